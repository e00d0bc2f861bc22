/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The allocator core's hooks for Valgrind and ASan (the client requests
 * they make are in heap-track.c).
 *
 * Blocks handed out are Valgrind mempool chunks (anchor: the pool), so
 * destroying a pool forgets its blocks; free blocks and uncarved slab memory
 * are NOACCESS under Valgrind and poisoned under ASan. Our own accesses to a
 * free block's link and key go through the dkm_blk_* helpers of heap-block.h.
 */
#ifndef DKM_CLIENT_TRACK_H
#define DKM_CLIENT_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define DKM_HAVE_VALGRIND 1
#else
#define DKM_HAVE_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define DKM_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DKM_HAVE_ASAN 1
#endif
#endif
#ifndef DKM_HAVE_ASAN
#define DKM_HAVE_ASAN 0
#endif
#if DKM_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#define DKM_NO_ASAN __attribute__((no_sanitize_address))
#else
#define DKM_NO_ASAN
#endif

#include "heap-assert.h"
#include "heap-internal.h"

#pragma GCC visibility push(hidden)

extern bool dkm_vg; /* running on Valgrind (set once, before any pool exists) */

/* Client requests need stack space: they live in functions of their own. */
#if DKM_HAVE_VALGRIND
void __attribute__((noinline, cold)) dkm_vg_mempool_alloc(void *p, void *b, size_t n);
void __attribute__((noinline, cold)) dkm_vg_mempool_free(void *p, void *b);
void __attribute__((noinline, cold)) dkm_vg_defined(const void *a, size_t n);
void __attribute__((noinline, cold)) dkm_vg_noaccess(const void *a, size_t n);
void __attribute__((noinline, cold)) dkm_vg_undefined(const void *a, size_t n);
/* The key word of b, read without a report, its state left as it was. */
uint64_t __attribute__((noinline, cold)) dkm_vg_read_key(const struct dkm_block *b);
#endif

#pragma GCC visibility pop

static inline void dkm_track_alloc_vg(struct dkm_pool *p, void *b, size_t n, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		dkm_vg_mempool_alloc(p, b, n);
#endif
#if DKM_HAVE_ASAN
	ASAN_UNPOISON_MEMORY_REGION(b, n);
#endif
	(void)p, (void)b, (void)n, (void)vg;
}

#define dkm_track_alloc(p, b, n) dkm_track_alloc_vg(p, b, n, dkm_vg)

static inline void dkm_track_free_vg(struct dkm_pool *p, void *b, size_t n, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		dkm_vg_mempool_free(p, b);
#endif
#if DKM_HAVE_ASAN
	ASAN_POISON_MEMORY_REGION(b, n);
#endif
	(void)p, (void)b, (void)n, (void)vg;
}

#define dkm_track_free(p, b, n) dkm_track_free_vg(p, b, n, dkm_vg)

/* Memory no block may be in yet (uncarved slab space). */
static inline void dkm_track_noaccess(void *a, size_t n)
{
#if DKM_HAVE_VALGRIND
	if (dkm_vg)
		dkm_vg_noaccess(a, n);
#endif
#if DKM_HAVE_ASAN
	ASAN_POISON_MEMORY_REGION(a, n);
#endif
	(void)a, (void)n;
}

/* Memory taken from the source or the retained list: ours to write. */
static inline void dkm_track_fresh(void *a, size_t n)
{
#if DKM_HAVE_VALGRIND
	if (dkm_vg)
		dkm_vg_undefined(a, n);
#endif
#if DKM_HAVE_ASAN
	ASAN_UNPOISON_MEMORY_REGION(a, n);
#endif
	(void)a, (void)n;
}

/*
 * The helpers below (and the dkm_blk_* ones of heap-block.h) take vg,
 * "running on Valgrind": the fast paths pass a constant false (under
 * Valgrind they never run: see dkm_tls_thread and the fast map), the rest
 * pass dkm_vg.
 */
static inline void dkm_vg_open(const void *b, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		dkm_vg_defined(b, sizeof(struct dkm_block));
#endif
	(void)b, (void)vg;
}

static inline void dkm_vg_close(const void *b, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		dkm_vg_noaccess(b, sizeof(struct dkm_block));
#endif
	(void)b, (void)vg;
}

#endif
