/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Thread caches (heap-cache.c): attaching a cache to a pool, the inbox other
 * threads free into (its push inline, for the remote free path), the owner's
 * slow path after a local free, and a thread's flush.
 */
#ifndef DKM_CLIENT_HEAP_CACHE_H
#define DKM_CLIENT_HEAP_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "heap-block.h"
#include "heap-internal.h"

#pragma GCC visibility push(hidden)

/* Attach a cache to p for the calling thread; NULL with errno. */
struct dkm_tcache *dkm_tcache_get(struct dkm_pool *p);
/* Take the whole inbox (its owner, or a retiring thread setting tag). */
struct dkm_block *dkm_inbox_take(struct dkm_tcache *tc, uintptr_t tag);
/* Free blocks others pushed onto tc's inbox (owner). */
void dkm_inbox_drain(struct dkm_tcache *tc, struct dkm_block *l);
/* Hold o's inbox still; the list at that moment, or false when o is retired. */
bool dkm_inbox_hold(struct dkm_tcache *o, struct dkm_block **list);
void dkm_inbox_unhold(struct dkm_tcache *o);
/* b is on o's inbox. */
bool dkm_inbox_contains(struct dkm_tcache *o, const struct dkm_block *b);
/* The owner's slow path after a local free into s (s full, or emptied and not cur). */
void __attribute__((noinline)) dkm_free_local_slow(struct dkm_tcache *tc, struct dkm_slab *s);

#pragma GCC visibility pop

/* Push b onto o's inbox; false if o is retired. */
static inline bool dkm_inbox_push(struct dkm_tcache *o, struct dkm_block *b)
{
	uintptr_t h = atomic_load_explicit(&o->inbox, memory_order_relaxed);

	do {
		if (h & DKM_INBOX_DEAD)
			return false;
		dkm_blk_set(b, (struct dkm_block *)(h & ~DKM_INBOX_TAGS));
	} while (!atomic_compare_exchange_weak_explicit(&o->inbox, &h,
							(uintptr_t)b | (h & DKM_INBOX_SCAN),
							memory_order_release, memory_order_relaxed));
	return true;
}

#endif
