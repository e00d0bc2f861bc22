/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Size classes: their tables (filled once by dkm_classes_init, heap-class.c)
 * and the class of a size, inline for the malloc fast path.
 */
#ifndef DKM_CLIENT_HEAP_CLASS_H
#define DKM_CLIENT_HEAP_CLASS_H

#include <stddef.h>
#include <stdint.h>

#include "heap-assert.h"
#include "heap-internal.h"

#pragma GCC visibility push(hidden)

extern uint32_t dkm_class_size[DKM_NCLASSES];  /* bytes */
extern uint8_t dkm_class_slots[DKM_NCLASSES];  /* slots per slab */
extern uint16_t dkm_class_batch[DKM_NCLASSES]; /* blocks carved at a time */
extern uint32_t dkm_class_cap[DKM_NCLASSES];   /* blocks in a slab */
extern uint32_t dkm_class_cap0[DKM_NCLASSES];  /* blocks in a slab in slot 0 (after the header) */
extern uint32_t dkm_class_color[DKM_NCLASSES]; /* offset of block 0 from the slab's start */
/* size -> class (no arithmetic: one load) */
extern uint8_t dkm_small_class[DKM_SMALL_MAX + 1];

/* Fill the tables (from heap_init, once). */
void dkm_classes_init(void);

#pragma GCC visibility pop

/* The class of size bytes (size <= DKM_CLASS_MAX). */
static inline unsigned dkm_class_of(size_t size)
{
	size_t s;
	unsigned b;

	if (DKM_LIKELY(size <= DKM_SMALL_MAX))
		return dkm_small_class[size];
	s = size - 1;
	b = 63u - (unsigned)__builtin_clzl(s); /* 2^b <= s < 2^(b+1), b >= 10 */
	return 8 + (b - 7) * 4 + (unsigned)((s >> (b - 2)) & 3);
}

#endif
