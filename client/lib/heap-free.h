/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Freeing into a slab of another thread's cache, or of the pool (heap-free.c). */
#ifndef DKM_CLIENT_HEAP_FREE_H
#define DKM_CLIENT_HEAP_FREE_H

#include "heap-internal.h"

#pragma GCC visibility push(hidden)

/* Free b (already validated) into a slab the calling thread does not own. */
int dkm_free_other(struct dkm_segment *seg, struct dkm_slab *s, struct dkm_block *b);

#pragma GCC visibility pop

#endif
