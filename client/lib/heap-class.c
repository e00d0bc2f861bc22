/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Size classes: 16-byte steps up to 128, then four per power of two up to
 * DKM_CLASS_MAX (see heap-internal.h); per class, the slab size, the blocks
 * carved at a time, the capacity and the color, computed once at start.
 */
#include "heap-class.h"
#include "heap-init.h"

uint32_t dkm_class_size[DKM_NCLASSES];      /* bytes */
uint8_t dkm_class_slots[DKM_NCLASSES];      /* slots per slab */
uint16_t dkm_class_batch[DKM_NCLASSES];     /* blocks carved at a time */
uint32_t dkm_class_cap[DKM_NCLASSES];       /* blocks in a slab */
uint32_t dkm_class_cap0[DKM_NCLASSES];      /* blocks in a slab in slot 0 (after the header) */
uint32_t dkm_class_color[DKM_NCLASSES];     /* offset of block 0 from the slab's start */
uint8_t dkm_small_class[DKM_SMALL_MAX + 1]; /* size -> class (no arithmetic: one load) */

static unsigned class_of_slow(size_t size)
{
	size_t s;
	unsigned b;

	if (size <= 128)
		return size ? (unsigned)((size - 1) >> 4) : 0;
	s = size - 1;
	b = 63u - (unsigned)__builtin_clzl(s);
	return 8 + (b - 7) * 4 + (unsigned)((s >> (b - 2)) & 3);
}

/*
 * Slab coloring (Bonwick's slab allocator): block 0 of each class starts at
 * a different offset within the page, a multiple of the class' largest power
 * of two (its blocks keep their alignment), at most 1/32 of the slab. Without
 * it, the blocks each class hands out first all sit at the same page offset
 * (slabs are 64 KiB aligned), and a thread going from class to class pays
 * for the loads and stores that look alike to the CPU in their low 12 address
 * bits ("4K aliasing"). used marks the 16-byte page offsets taken.
 */
static uint32_t class_color_pick(unsigned c, uint32_t sz, uint8_t used[256])
{
	uint32_t step = sz & -sz;

	if (step >= 4096)
		return 0;
	for (uint32_t col = 0; col <= dkm_class_slots[c] * DKM_SLOT_SIZE / 32; col += step) {
		if (!used[col % 4096 / 16]) {
			used[col % 4096 / 16] = 1;
			return col;
		}
	}
	return 0;
}

void dkm_classes_init(void)
{
	uint8_t used[256] = { 0 };

	for (unsigned c = 0; c < DKM_NCLASSES; c++) {
		uint32_t sz;

		if (c < 8) {
			sz = 16 * (c + 1);
		} else {
			unsigned b = 7 + (c - 8) / 4, k = (c - 8) % 4;

			sz = (1u << b) + (k + 1) * (1u << (b - 2));
		}
		dkm_class_size[c] = sz;
		/*
		 * The smallest slab (a power of two of slots) holding enough
		 * blocks (8, or 4 above 32 KiB) with at most 1/8 left over.
		 */
		for (unsigned k = 1; k <= DKM_MAX_SLAB_SLOTS; k *= 2) {
			size_t bytes = k * DKM_SLOT_SIZE, n = bytes / sz;

			if (n >= (sz > (32u << 10) ? 4u : 8u) && bytes - n * sz <= bytes / 8) {
				dkm_class_slots[c] = (uint8_t)k;
				break;
			}
		}
		dkm_assert(dkm_class_slots[c] != 0);
		/* slot 0 starts past the header: its blocks stay aligned to any power of two dividing bsize */
		dkm_assert(dkm_class_slots[c] > 1 || DKM_SEG_HEADER_SIZE % (sz & -sz) == 0);
		dkm_class_batch[c] = (uint16_t)(sz >= 4096 ? 1 : 4096 / sz);
		dkm_class_color[c] = class_color_pick(c, sz, used);
		dkm_class_cap[c] =
			(uint32_t)((dkm_class_slots[c] * DKM_SLOT_SIZE - dkm_class_color[c]) / sz);
		dkm_class_cap0[c] =
			(uint32_t)((DKM_SLOT_SIZE - DKM_SEG_HEADER_SIZE - dkm_class_color[c]) / sz);
		dkm_assert(dkm_class_cap[c] >= 4 && dkm_class_cap[c] < DKM_SLOW_NEVER);
	}
	dkm_assert(dkm_class_size[DKM_NCLASSES - 1] == DKM_CLASS_MAX);
	for (unsigned i = 0; i <= DKM_SMALL_MAX; i++)
		dkm_small_class[i] = (uint8_t)class_of_slow(i);
	for (size_t sz = 0; sz <= DKM_CLASS_MAX; sz += (sz < 4096 ? 1 : 97)) {
		unsigned c = dkm_class_of(sz);

		dkm_assert(dkm_class_size[c] >= sz && (c == 0 || dkm_class_size[c - 1] < sz));
	}
}

size_t dkm_heap_size_class_count(void)
{
	return DKM_NCLASSES;
}

size_t dkm_heap_size_class(size_t i)
{
	dkm_heap_init_once();
	return i < DKM_NCLASSES ? dkm_class_size[i] : 0;
}
