/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Thread caches: a thread's cache for a pool (struct dkm_tcache) attached on
 * its first slow path, the inbox other threads push the blocks they free
 * into it onto, drained by the owner; the owner's slow path after a local
 * free; and the flush at thread exit, which hands every slab to its pool.
 */
#include "heap-cache.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "heap-assert.h"
#include "heap-free.h"
#include "heap-init.h"
#include "heap-list.h"
#include "heap-segment.h"
#include "heap-slab.h"

/* Wait for another thread (holding an inbox still): spin, then yield. */
static inline void spin_wait(unsigned *n)
{
	if (++*n % 64 == 0) {
		sched_yield();
		return;
	}
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Take the whole inbox (its owner, or a retiring thread setting tag). */
struct dkm_block *dkm_inbox_take(struct dkm_tcache *tc, uintptr_t tag)
{
	uintptr_t h = atomic_load_explicit(&tc->inbox, memory_order_relaxed);
	unsigned spins = 0;

	for (;;) {
		if (h & DKM_INBOX_SCAN) {
			spin_wait(&spins);
			h = atomic_load_explicit(&tc->inbox, memory_order_relaxed);
			continue;
		}
		if ((h & ~DKM_INBOX_TAGS) == 0 && (h & DKM_INBOX_TAGS) == tag)
			return NULL;
		if (atomic_compare_exchange_weak_explicit(&tc->inbox, &h, tag, memory_order_acquire,
							  memory_order_relaxed))
			return (struct dkm_block *)(h & ~DKM_INBOX_TAGS);
	}
}

/*
 * Hold o's inbox still (it may grow, not be taken); the list at that moment,
 * or false when o is retired. dkm_inbox_unhold() when done.
 */
bool dkm_inbox_hold(struct dkm_tcache *o, struct dkm_block **list)
{
	uintptr_t h = atomic_load_explicit(&o->inbox, memory_order_relaxed);
	unsigned spins = 0;

	for (;;) {
		if (h & DKM_INBOX_DEAD)
			return false;
		if (h & DKM_INBOX_SCAN) {
			spin_wait(&spins);
			h = atomic_load_explicit(&o->inbox, memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(&o->inbox, &h, h | DKM_INBOX_SCAN,
							  memory_order_acquire, memory_order_relaxed)) {
			*list = (struct dkm_block *)(h & ~DKM_INBOX_TAGS);
			return true;
		}
	}
}

void dkm_inbox_unhold(struct dkm_tcache *o)
{
	atomic_fetch_and_explicit(&o->inbox, ~DKM_INBOX_SCAN, memory_order_release);
}

bool dkm_inbox_contains(struct dkm_tcache *o, const struct dkm_block *b)
{
	struct dkm_block *l;
	bool found = false;

	if (!dkm_inbox_hold(o, &l))
		return false;
	for (; l && !found; l = dkm_blk_next(l))
		found = l == b;
	dkm_inbox_unhold(o);
	return found;
}

/* The owner's slow path after a local free into s (s full, or emptied and not cur). */
void __attribute__((noinline)) dkm_free_local_slow(struct dkm_tcache *tc, struct dkm_slab *s)
{
	if (s->where == DKM_SLAB_FULL) {
		/* at the tail: refill takes the slabs that had longest to collect frees */
		dkm_dl_del(&s->link);
		dkm_slab_set_where(s, DKM_SLAB_PARTIAL, 0);
		dkm_dl_add(tc->partial[s->cls].prev, &s->link);
	}
	if (dkm_slab_used(s) == 0 && s->where != DKM_SLAB_NONE) {
		struct dkm_pool *p = tc->pool;
		struct dkm_dlist unmap;

		dkm_dl_init(&unmap);
		dkm_dl_del(&s->link);
		s->where = DKM_SLAB_NONE;
		pthread_mutex_lock(&p->lock);
		dkm_slab_release(p, s, &unmap);
		pthread_mutex_unlock(&p->lock);
		dkm_unmap_list(p, &unmap);
	}
}

/* Free blocks others pushed onto tc's inbox (owner). */
void dkm_inbox_drain(struct dkm_tcache *tc, struct dkm_block *l)
{
	while (l) {
		struct dkm_block *next = dkm_blk_next(l);
		struct dkm_segment *seg = dkm_seg_of(l);
		struct dkm_slab *s = dkm_slab_of(seg, l);

		if (atomic_load_explicit(&s->owner, memory_order_relaxed) == tc) {
			dkm_blk_set(l, s->free);
			s->free = l;
			dkm_assert_internal(dkm_slab_used(s) > 0);
			if (--s->used_rel == 0)
				dkm_free_local_slow(tc, s);
		} else {
			/* pushed here through a stale owner: pass it on */
			dkm_free_other(seg, s, l);
		}
		l = next;
	}
}

/* Attach a cache to p for the calling thread; NULL with errno. */
struct dkm_tcache *dkm_tcache_get(struct dkm_pool *p)
{
	struct dkm_thread *t = dkm_my_thread();
	struct dkm_tcache *tc;

	if (t == &dkm_empty_thread) {
		t = dkm_thread_alloc();
		if (!t) {
			errno = ENOMEM;
			return NULL;
		}
		dkm_set_my_thread(t);
	}
	tc = t->tc[p->id];
	if (tc != &dkm_empty_tcache) {
		dkm_assert_internal(tc->uid == p->uid);
		return tc;
	}
	tc = dkm_tcache_alloc();
	if (!tc) {
		errno = ENOMEM;
		return NULL;
	}
	/* fresh or recycled */
	for (unsigned c = 0; c < DKM_NCLASSES; c++) {
		tc->cur[c] = &dkm_empty_slab;
		dkm_dl_init(&tc->partial[c]);
		dkm_dl_init(&tc->full[c]);
	}
	tc->pool = p;
	tc->thread = t;
	tc->recycle = NULL;
	atomic_store_explicit(&tc->inbox, 0, memory_order_release);
	tc->uid = p->uid;
	pthread_mutex_lock(&p->lock);
	dkm_dl_add(&p->tcaches, &tc->plink);
	pthread_mutex_unlock(&p->lock);
	t->tc[p->id] = tc;
	return tc;
}

/*
 * The calling thread is done with tc: its slabs go to the pool (released
 * when empty, abandoned otherwise), its inbox is retired. With the registry
 * lock held, so the pool cannot be destroyed meanwhile.
 */
static void tcache_retire(struct dkm_tcache *tc)
{
	struct dkm_pool *p = tc->pool;
	struct dkm_dlist unmap;
	struct dkm_block *l;

	dkm_inbox_drain(tc, dkm_inbox_take(tc, 0));
	dkm_dl_init(&unmap);
	pthread_mutex_lock(&p->lock);
	for (unsigned c = 0; c < DKM_NCLASSES; c++) {
		struct dkm_slab *s;

		if (tc->cur[c] != &dkm_empty_slab)
			dkm_slab_abandon(p, tc->cur[c], &unmap);
		tc->cur[c] = &dkm_empty_slab;
		while ((s = dkm_dl_first(&tc->partial[c], struct dkm_slab, link)))
			dkm_slab_abandon(p, s, &unmap);
		while ((s = dkm_dl_first(&tc->full[c], struct dkm_slab, link)))
			dkm_slab_abandon(p, s, &unmap);
	}
	dkm_dl_del(&tc->plink);
	pthread_mutex_unlock(&p->lock);
	dkm_unmap_list(p, &unmap);
	/* frees that raced with the above: their slabs are ownerless now */
	l = dkm_inbox_take(tc, DKM_INBOX_DEAD);
	while (l) {
		struct dkm_block *next = dkm_blk_next(l);
		struct dkm_segment *seg = dkm_seg_of(l);

		dkm_free_other(seg, dkm_slab_of(seg, l), l);
		l = next;
	}
}

void dkm_heap_thread_flush(void)
{
	struct dkm_thread *t = dkm_my_thread();

	if (t == &dkm_empty_thread)
		return;
	dkm_set_my_thread(&dkm_empty_thread);
	/* the registry lock keeps the pools alive, and their destroy off t->tc[] */
	pthread_mutex_lock(&dkm_registry_lock);
	for (unsigned id = 0; id < DKM_HEAP_MAX_POOLS; id++) {
		struct dkm_tcache *tc = t->tc[id];

		if (tc == &dkm_empty_tcache)
			continue;
		t->tc[id] = &dkm_empty_tcache;
		dkm_assert(dkm_registry[id] == tc->pool && tc->pool->uid == tc->uid);
		if (!tc->pool->inherited)
			tcache_retire(tc);
		else
			atomic_store_explicit(&tc->inbox, DKM_INBOX_DEAD, memory_order_relaxed);
		dkm_tcache_recycle_put(tc);
	}
	dkm_dl_del(&t->link);
	pthread_mutex_unlock(&dkm_registry_lock);
	dkm_thread_recycle_put(t);
}
