/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Allocation: the malloc fast path (a block popped from the slab the calling
 * thread's cache allocates from for the class, no lock), its slow path
 * (refill: the inbox, carving, another slab of the cache, an abandoned slab,
 * a new slab; medium and large sizes), and aligned allocation. The fast path
 * and dkm_pool_malloc share this file so that dkm_pool_malloc inlines it
 * without link-time optimisation too (the library inlines it into
 * daxkmem_malloc with it).
 */
#include "heap.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "heap-assert.h"
#include "heap-block.h"
#include "heap-cache.h"
#include "heap-class.h"
#include "heap-init.h"
#include "heap-internal.h"
#include "heap-large.h"
#include "heap-list.h"
#include "heap-medium.h"
#include "heap-slab.h"
#include "track.h"

/* Make tc->cur[c] a slab with a free block. Owner; NULL with errno. */
static struct dkm_slab *refill(struct dkm_pool *p, struct dkm_tcache *tc, unsigned c)
{
	struct dkm_slab *s = tc->cur[c];
	struct dkm_dlist unmap;
	struct dkm_block *l;

	if (atomic_load_explicit(&tc->inbox, memory_order_relaxed) & ~DKM_INBOX_TAGS) {
		l = dkm_inbox_take(tc, 0);
		dkm_inbox_drain(tc, l);
		if (s->free)
			return s;
	}
	if (s != &dkm_empty_slab) {
		dkm_assert_internal(s->where == DKM_SLAB_NONE);
		if (s->carved < dkm_slab_capacity(s)) {
			dkm_slab_carve(s);
			return s;
		}
		dkm_slab_check(s);
		dkm_assert_internal(dkm_slab_used(s) == dkm_slab_capacity(s));
		dkm_slab_set_where(s, DKM_SLAB_FULL, (uint16_t)dkm_slab_capacity(s));
		dkm_dl_add(&tc->full[c], &s->link);
		tc->cur[c] = &dkm_empty_slab;
	}
	s = dkm_dl_first(&tc->partial[c], struct dkm_slab, link);
	if (s) {
		dkm_dl_del(&s->link);
	} else {
		dkm_dl_init(&unmap);
		pthread_mutex_lock(&p->lock);
		s = dkm_dl_first(&p->abandoned[c], struct dkm_slab, link);
		if (s) {
			/* adopt */
			dkm_dl_del(&s->link);
			s->thread = tc->thread;
			atomic_store_explicit(&s->owner, tc, memory_order_release);
			dkm_slab_check(s);
		} else {
			s = dkm_slab_new(p, c, tc);
		}
		pthread_mutex_unlock(&p->lock);
		if (!s)
			return NULL;
	}
	dkm_slab_set_where(s, DKM_SLAB_NONE, 0);
	tc->cur[c] = s;
	if (!s->free)
		dkm_slab_carve(s);
	return s;
}

/* A block of class c from tc. NULL with errno. */
static void *small_alloc(struct dkm_pool *p, struct dkm_tcache *tc, unsigned c)
{
	struct dkm_slab *s = tc->cur[c];
	struct dkm_block *b = s->free;

	if (!b) {
		s = refill(p, tc, c);
		if (!s)
			return NULL;
		b = s->free;
	}
	s->free = dkm_blk_next(b);
	s->used_rel++;
	dkm_blk_clear_key(b);
	dkm_track_alloc(p, b, s->bsize);
	return b;
}

static void *__attribute__((noinline)) malloc_slow(struct dkm_pool *p, size_t size)
{
	struct dkm_tcache *tc;

	if (p->inherited) {
		errno = EINVAL;
		return NULL;
	}
	if (size > DKM_CLASS_MAX)
		return size <= DKM_MEDIUM_MAX ? dkm_medium_alloc(p, size)
					      : dkm_large_alloc(p, size, DKM_SPAN_HEADER_SIZE);
	tc = dkm_tcache_get(p);
	if (!tc)
		return NULL;
	return small_alloc(p, tc, dkm_class_of(size));
}

/*
 * The fast path: a block from the slab the calling thread's cache of p
 * allocates from for the class, or NULL (errno untouched) when there is no
 * block at hand there, or size is large. Under Valgrind, dkm_tls_thread is
 * &dkm_empty_thread, whose slabs have no block.
 */
__attribute__((always_inline)) inline void *dkm_pool_malloc_fast(unsigned id, size_t size)
{
	/* &dkm_empty_tcache: its slabs have no block */
	struct dkm_tcache *tc = dkm_tls_thread->tc[id];
	struct dkm_slab *s;
	struct dkm_block *b;
	unsigned c;

	if (DKM_LIKELY(size <= DKM_SMALL_MAX))
		c = dkm_small_class[size];
	else if (size <= DKM_CLASS_MAX)
		c = dkm_class_of(size);
	else
		return NULL;
	s = tc->cur[c];
	b = s->free;
	if (DKM_UNLIKELY(b == NULL))
		return NULL;
	dkm_assert_internal(atomic_load_explicit(&s->owner, memory_order_relaxed) == tc);
	s->free = dkm_blk_next_vg(b, false);
	s->used_rel++;
	dkm_blk_clear_key_vg(b, false);
	dkm_track_alloc_vg(NULL, b, s->bsize, false); /* ASan only: no Valgrind here */
	return b;
}

void *dkm_pool_malloc(struct dkm_pool *p, size_t size)
{
	void *b = dkm_pool_malloc_fast(p->id, size);

	return DKM_LIKELY(b != NULL) ? b : malloc_slow(p, size);
}

void *dkm_pool_memalign(struct dkm_pool *p, size_t align, size_t size)
{
	struct dkm_tcache *tc;

	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	if (align <= 16)
		return dkm_pool_malloc(p, size);
	if (p->inherited) {
		errno = EINVAL;
		return NULL;
	}
	if (size <= DKM_CLASS_MAX && align <= DKM_CLASS_MAX) {
		/*
		 * A class whose size is a multiple of align: its blocks are
		 * aligned, since block 0 is aligned to the largest power of two
		 * dividing the class size (slabs are 64 KiB aligned, or 8 KiB
		 * in slot 0 which holds classes up to 8 KiB only; colors are
		 * multiples of it).
		 */
		for (unsigned c = dkm_class_of(size > align ? size : align);
		     c < DKM_NCLASSES; c++) {
			if (dkm_class_size[c] % align)
				continue;
			tc = dkm_tcache_get(p);
			if (!tc)
				return NULL;
			return small_alloc(p, tc, c);
		}
	}
	/* medium blocks are slot aligned */
	if (size > DKM_CLASS_MAX && size <= DKM_MEDIUM_MAX && align <= DKM_SLOT_SIZE)
		return dkm_medium_alloc(p, size);
	return dkm_large_alloc(p, size, align);
}

