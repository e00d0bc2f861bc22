/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The allocator core's global state (heap-init.c): the empty slab, cache and
 * thread every fast path may meet, the calling thread's caches, the registry
 * of live pools and of live threads, initialisation, and the memory of
 * thread and cache structures.
 */
#ifndef DKM_CLIENT_HEAP_INIT_H
#define DKM_CLIENT_HEAP_INIT_H

#include <pthread.h>

#include "heap-assert.h"
#include "heap-internal.h"
#include "track.h"

#pragma GCC visibility push(hidden)

extern struct dkm_slab dkm_empty_slab;     /* free == NULL: the fast path falls through */
extern struct dkm_tcache dkm_empty_tcache; /* cur[] all &dkm_empty_slab, inbox DEAD */
extern struct dkm_thread dkm_empty_thread; /* tc[] all &dkm_empty_tcache */
/* The calling thread's caches, and where they are under Valgrind (see heap-init.c). */
extern __thread struct dkm_thread *dkm_tls_thread __attribute__((tls_model("initial-exec")));
extern __thread struct dkm_thread *dkm_tls_thread_vg __attribute__((tls_model("initial-exec")));

extern pthread_mutex_t dkm_registry_lock;                 /* taken before pool locks */
extern struct dkm_pool *dkm_registry[DKM_HEAP_MAX_POOLS]; /* live pools by id */
extern struct dkm_dlist dkm_threads;                      /* live dkm_threads */

/* Initialise the core once (size classes, secret, Valgrind); any thread, any time. */
void dkm_heap_init_once(void);

/* A thread's caches, all &dkm_empty_tcache, on dkm_threads; NULL when out of memory. */
struct dkm_thread *dkm_thread_alloc(void);
/* Recycle t (off dkm_threads already). */
void dkm_thread_recycle_put(struct dkm_thread *t);
/* A cache, fresh or recycled (its fields to be set); NULL when out of memory. */
struct dkm_tcache *dkm_tcache_alloc(void);
/* Its inbox is DEAD: stale pushers go elsewhere until it serves a pool again. */
void dkm_tcache_recycle_put(struct dkm_tcache *tc);

#pragma GCC visibility pop

static inline struct dkm_thread *dkm_my_thread(void)
{
	return DKM_UNLIKELY(dkm_vg) ? dkm_tls_thread_vg : dkm_tls_thread;
}

static inline void dkm_set_my_thread(struct dkm_thread *t)
{
	if (dkm_vg)
		dkm_tls_thread_vg = t;
	else
		dkm_tls_thread = t;
}

#endif
