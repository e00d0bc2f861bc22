/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Large blocks (above DKM_MEDIUM_MAX, or aligned beyond what a slab or a
 * medium block gives): a span of their own, from the retained list or the
 * source, under the pool lock; freed once (the span's state), then retained
 * or given back.
 */
#include "heap-large.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "heap-assert.h"
#include "heap-list.h"
#include "heap-map.h"
#include "heap-segment.h"
#include "track.h"

/* A large block: a span of its own. NULL with errno. */
void *dkm_large_alloc(struct dkm_pool *p, size_t size, size_t align)
{
	size_t a = align > DKM_SPAN_HEADER_SIZE ? align : DKM_SPAN_HEADER_SIZE, span;
	struct dkm_segment *seg;
	char *block;
	size_t usable;
	void *token;

	if (size > DKM_HEAP_MAX_SIZE || a > DKM_HEAP_MAX_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	if (size < 16)
		size = 16; /* a block inside the span, even at the largest offset */
	/* the block starts max(header, align) into a segment-aligned span, or at most align in */
	span = (a + size + DKM_SEGMENT_SIZE - 1) & ~(DKM_SEGMENT_SIZE - 1);
	pthread_mutex_lock(&p->lock);
	seg = dkm_span_get(p, span, 2 * span);
	if (!seg) {
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	block = (char *)(((uintptr_t)seg + DKM_SPAN_HEADER_SIZE + a - 1) & ~(uintptr_t)(a - 1));
	dkm_assert(block + size <= (char *)seg + seg->span_size);
	usable = (size_t)((char *)seg + seg->span_size - block);
	span = seg->span_size;
	token = seg->token;
	memset(seg, 0, offsetof(struct dkm_segment, slabs));
	memset(seg->slot_map, DKM_SLOT_FREE, sizeof(seg->slot_map));
	seg->pool = p;
	seg->pool_id = p->id;
	seg->kind = DKM_SEG_LARGE;
	seg->magic = DKM_SEG_MAGIC;
	seg->span_size = span;
	seg->token = token;
	seg->block = block;
	seg->usable = usable;
	atomic_init(&seg->state, DKM_LARGE_LIVE);
	if (dkm_radix_set(seg, span >> DKM_SEGMENT_SHIFT, true) < 0) {
		struct dkm_dlist l;

		dkm_dl_init(&l);
		dkm_segment_retire(p, seg, &l);
		pthread_mutex_unlock(&p->lock);
		dkm_unmap_list(p, &l);
		errno = ENOMEM;
		return NULL;
	}
	dkm_dl_add(&p->large, &seg->link);
	p->large_blocks++;
	p->large_bytes += usable;
	pthread_mutex_unlock(&p->lock);
	dkm_track_fresh(block, usable);
	dkm_track_alloc(p, block, usable);
	return block;
}

/* A pointer whose slot holds no slab: a large block, or not a block. */
int __attribute__((noinline)) dkm_free_nonslab(struct dkm_segment *seg, void *ptr)
{
	struct dkm_pool *p = seg->pool;
	int expect = DKM_LARGE_LIVE;
	struct dkm_dlist unmap;

	if (seg->kind != DKM_SEG_LARGE || (char *)ptr != seg->block)
		return -EINVAL;
	if (p->inherited)
		return 0;
	if (!atomic_compare_exchange_strong(&seg->state, &expect, DKM_LARGE_FREED))
		return -EALREADY;
	dkm_track_free(p, ptr, seg->usable);
	dkm_radix_set(seg, seg->span_size >> DKM_SEGMENT_SHIFT, false);
	dkm_dl_init(&unmap);
	pthread_mutex_lock(&p->lock);
	dkm_dl_del(&seg->link);
	p->large_blocks--;
	p->large_bytes -= seg->usable;
	dkm_segment_retire(p, seg, &unmap);
	pthread_mutex_unlock(&p->lock);
	dkm_unmap_list(p, &unmap);
	return 0;
}
