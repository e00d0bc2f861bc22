/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pools: creating one (an id in the registry, a uid), destroying it (every
 * thread forgets its cache for it, every segment and span goes back to the
 * source), its few constant properties, and its figures.
 */
#include "heap.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "heap-block.h"
#include "heap-cache.h"
#include "heap-init.h"
#include "heap-internal.h"
#include "heap-list.h"
#include "heap-map.h"
#include "heap-segment.h"
#include "heap-slab.h"
#include "track.h"

static uint64_t next_uid = 1; /* under dkm_registry_lock */

int dkm_pool_new(const struct dkm_heap_source *src, unsigned tag, size_t retain_bytes,
		 struct dkm_pool **ret)
{
	struct dkm_pool *p;
	int id = -1;

	dkm_heap_init_once();
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->tag = tag;
	p->src = *src;
	p->retain_bytes = retain_bytes;
	pthread_mutex_init(&p->lock, NULL);
	dkm_dl_init(&p->segs);
	dkm_dl_init(&p->avail);
	dkm_dl_init(&p->large);
	dkm_dl_init(&p->retained);
	dkm_dl_init(&p->tcaches);
	for (unsigned c = 0; c < DKM_NCLASSES; c++)
		dkm_dl_init(&p->abandoned[c]);
	pthread_mutex_lock(&dkm_registry_lock);
	for (unsigned i = 0; i < DKM_HEAP_MAX_POOLS; i++) {
		if (!dkm_registry[i]) {
			id = (int)i;
			break;
		}
	}
	if (id >= 0) {
		p->id = (uint16_t)id;
		p->uid = next_uid++;
		dkm_registry[id] = p;
	}
	pthread_mutex_unlock(&dkm_registry_lock);
	if (id < 0) {
		pthread_mutex_destroy(&p->lock);
		free(p);
		return -ENOMEM;
	}
#if DKM_HAVE_VALGRIND
	if (dkm_vg)
		VALGRIND_CREATE_MEMPOOL(p, 0, 0);
#endif
	*ret = p;
	return 0;
}

void dkm_pool_destroy(struct dkm_pool *p)
{
	struct dkm_dlist all;

	if (!p)
		return;
	/* every thread forgets its cache for p (none may be using p now) */
	pthread_mutex_lock(&dkm_registry_lock);
	dkm_registry[p->id] = NULL;
	for (struct dkm_dlist *n = dkm_threads.next; n != &dkm_threads; n = n->next) {
		struct dkm_thread *t = dkm_container_of(n, struct dkm_thread, link);
		struct dkm_tcache *tc = t->tc[p->id];

		if (tc == &dkm_empty_tcache)
			continue;
		t->tc[p->id] = &dkm_empty_tcache;
		atomic_store_explicit(&tc->inbox, DKM_INBOX_DEAD, memory_order_relaxed);
		dkm_tcache_recycle_put(tc);
	}
	pthread_mutex_unlock(&dkm_registry_lock);
	dkm_dl_init(&all);
	while (!dkm_dl_empty(&p->segs)) {
		struct dkm_segment *seg = dkm_container_of(p->segs.next, struct dkm_segment, link);

		dkm_dl_del(&seg->link);
		dkm_fastmap_set(seg, false);
		dkm_radix_set(seg, 1, false);
		dkm_dl_add(&all, &seg->link);
	}
	while (!dkm_dl_empty(&p->large)) {
		struct dkm_segment *seg = dkm_container_of(p->large.next, struct dkm_segment, link);

		dkm_dl_del(&seg->link);
		dkm_radix_set(seg, seg->span_size >> DKM_SEGMENT_SHIFT, false);
		dkm_dl_add(&all, &seg->link);
	}
	while (!dkm_dl_empty(&p->retained)) {
		struct dkm_segment *seg =
			dkm_container_of(p->retained.next, struct dkm_segment, link);

		dkm_dl_del(&seg->link);
		dkm_dl_add(&all, &seg->link);
	}
	if (p->inherited) {
		/* the memory is the parent's: forget it, do not unmap */
		while (!dkm_dl_empty(&all))
			dkm_dl_del(all.next);
	} else {
		dkm_unmap_list(p, &all);
	}
#if DKM_HAVE_VALGRIND
	if (dkm_vg)
		VALGRIND_DESTROY_MEMPOOL(p);
#endif
	pthread_mutex_destroy(&p->lock);
	free(p);
}

unsigned dkm_pool_tag(const struct dkm_pool *p)
{
	return p->tag;
}

unsigned dkm_pool_id(const struct dkm_pool *p)
{
	return p->id;
}

bool dkm_pool_inherited(const struct dkm_pool *p)
{
	return p->inherited;
}

/* Blocks of p in o's inbox (the stats subtract them: freed, not yet drained). */
static void inbox_count(struct dkm_pool *p, struct dkm_tcache *o, size_t *blocks, size_t *bytes)
{
	struct dkm_block *l;

	if (!dkm_inbox_hold(o, &l))
		return;
	for (; l; l = dkm_blk_next(l)) {
		struct dkm_segment *seg = dkm_seg_of(l);

		if (seg->pool == p) {
			struct dkm_slab *s = dkm_slab_of(seg, l);

			(*blocks)++;
			*bytes += s->bsize;
		}
	}
	dkm_inbox_unhold(o);
}

void dkm_pool_stats(struct dkm_pool *p, struct dkm_pool_stats *st)
{
	size_t blocks = 0, bytes = 0, pend_blocks = 0, pend_bytes = 0;

	pthread_mutex_lock(&p->lock);
	for (struct dkm_dlist *n = p->segs.next; n != &p->segs; n = n->next) {
		struct dkm_segment *seg = dkm_container_of(n, struct dkm_segment, link);

		for (unsigned i = 0; i < DKM_SLOTS; i++) {
			if (seg->slot_map[i] == i && seg->slabs[i].bsize) {
				const struct dkm_slab *s = &seg->slabs[i];
				size_t used = (uint16_t)(__atomic_load_n(&s->used_rel, __ATOMIC_RELAXED) +
							 __atomic_load_n(&s->slow_used, __ATOMIC_RELAXED));

				blocks += used;
				bytes += used * seg->slabs[i].bsize;
			}
		}
	}
	/* in a forked child, the parent's caches are frozen copies: leave them */
	for (struct dkm_dlist *n = p->tcaches.next; !p->inherited && n != &p->tcaches; n = n->next)
		inbox_count(p, dkm_container_of(n, struct dkm_tcache, plink), &pend_blocks,
			    &pend_bytes);
	st->segments = p->nsegments;
	st->mapped_bytes = p->mapped_bytes;
	st->blocks = blocks - pend_blocks + p->large_blocks;
	st->allocated_bytes = bytes - pend_bytes + p->large_bytes;
	pthread_mutex_unlock(&p->lock);
}
