/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Medium blocks, runs of whole slots of a slab segment (heap-medium.c). */
#ifndef DKM_CLIENT_HEAP_MEDIUM_H
#define DKM_CLIENT_HEAP_MEDIUM_H

#include <stddef.h>

#include "heap-internal.h"

#pragma GCC visibility push(hidden)

/* A medium block (DKM_CLASS_MAX < size <= DKM_MEDIUM_MAX), 64 KiB aligned. NULL with errno. */
void *dkm_medium_alloc(struct dkm_pool *p, size_t size);
/* Free the medium block at ptr of the live slab segment seg: 0, or -EALREADY. */
int __attribute__((noinline)) dkm_medium_free(struct dkm_segment *seg, void *ptr);

#pragma GCC visibility pop

#endif
