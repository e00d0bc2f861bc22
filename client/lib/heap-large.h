/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Large blocks, each a span of its own (heap-large.c). */
#ifndef DKM_CLIENT_HEAP_LARGE_H
#define DKM_CLIENT_HEAP_LARGE_H

#include <stddef.h>

#include "heap-internal.h"

#pragma GCC visibility push(hidden)

/* A large block: a span of its own, the block aligned to align. NULL with errno. */
void *dkm_large_alloc(struct dkm_pool *p, size_t size, size_t align);
/* A pointer whose slot holds no slab: free it as a large block, or -EINVAL. */
int __attribute__((noinline)) dkm_free_nonslab(struct dkm_segment *seg, void *ptr);

#pragma GCC visibility pop

#endif
