/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Assertions of the allocator core and its branch hints, at the debug level
 * the core is built with (the handler and the level's query are in
 * heap-check.c).
 */
#ifndef DKM_CLIENT_HEAP_ASSERT_H
#define DKM_CLIENT_HEAP_ASSERT_H

/*
 * DKM_HEAP_DEBUG (build time): 0 only the cheap checks of slow paths, 1 also
 * internal checks on every path, 2 also expensive walks of whole slabs and
 * segments on slab transitions.
 */
#ifndef DKM_HEAP_DEBUG
#define DKM_HEAP_DEBUG 0
#endif

#define DKM_LIKELY(x) __builtin_expect(!!(x), 1)
#define DKM_UNLIKELY(x) __builtin_expect(!!(x), 0)

#pragma GCC visibility push(hidden)
/* Report the failed assertion on stderr and abort. */
void __attribute__((noreturn, cold)) dkm_assert_fail(const char *expr, const char *file, int line);
#pragma GCC visibility pop

#define dkm_assert(x) ((x) ? (void)0 : dkm_assert_fail(#x, __FILE__, __LINE__))
#if DKM_HEAP_DEBUG >= 1
#define dkm_assert_internal(x) dkm_assert(x)
#else
#define dkm_assert_internal(x) ((void)0)
#endif
#if DKM_HEAP_DEBUG >= 2
#define dkm_assert_expensive(x) dkm_assert(x)
#else
#define dkm_assert_expensive(x) ((void)0)
#endif

#endif
