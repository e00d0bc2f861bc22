/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The public API of libdaxkmem-client (include/daxkmem.h). */
#include "daxkmem.h"

#include <errno.h>
#include <sched.h>
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif
#include <stdatomic.h>
#include <numaif.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"
#include "session.h"
#include "wire.h"

#define DKM_EXPORT __attribute__((visibility("default")))

struct daxkmem_region {
	struct dkm_session_region *r;
	daxkmem_kind_t kind;
};

static inline bool valid_kind(daxkmem_kind_t kind)
{
	/* KMEM, KMEM_ALL, KMEM_PREFERRED are 1..3 */
	return (unsigned)kind - 1u < 3u;
}

DKM_EXPORT const char *daxkmem_kind_name(daxkmem_kind_t kind)
{
	return valid_kind(kind) ? dkm_kind_name((uint32_t)kind) : NULL;
}

#define DKM_LIKELY(x) __builtin_expect(!!(x), 1)

/*
 * The calling thread's pools, remembered for the CPU it last ran on: the
 * fast path costs one load of the rseq cpu_id and one compare. Placement
 * still follows the thread: a move to another CPU looks the pools up again.
 * cpu_id points at the thread's rseq cpu_id once looked up (glibc registered
 * one), at no_cpu before that and without one: a CPU no pool is for. pid[k]
 * is the id of pool[k] for the heap's malloc fast path, or DKM_HEAP_NO_POOL
 * (whose fast path finds no block) while pool[k] is NULL: so for DETECT
 * (kind 0), before the first call for a kind and after a move; the fast path
 * needs no test of its own. In a child after fork, the only thread's cache
 * is cleared by api_fork_child, the session's fork hook (the pools it names
 * belong to the parent).
 */
static const volatile int32_t no_cpu = -2;
static __thread __attribute__((tls_model("initial-exec"))) struct {
	const volatile int32_t *cpu_id;     /* this thread's rseq cpu_id, or &no_cpu */
	int cpu;                            /* CPU the pools are for, -1 none */
	uint16_t pid[DKM_NKINDS];           /* by kind: pool[kind]'s id, or DKM_HEAP_NO_POOL */
	bool cpu_id_known;                  /* cpu_id was looked up */
	struct dkm_pool *pool[DKM_NKINDS];  /* by kind */
} tl = {
	.cpu_id = &no_cpu,
	.cpu = -1,
	.pid = { [0 ... DKM_NKINDS - 1] = DKM_HEAP_NO_POOL },
};

/* Forget the pools (the thread moved to another CPU, or fork). */
static void forget_pools(void)
{
	for (unsigned k = 0; k < DKM_NKINDS; k++) {
		tl.pool[k] = NULL;
		tl.pid[k] = DKM_HEAP_NO_POOL;
	}
}

/* In a child after fork: forget the calling thread's cached pools (the session's hook). */
static void api_fork_child(void)
{
	forget_pools();
	tl.cpu = -1;
}

/* At load, before any pool can be remembered: the session's fork handling is to call it. */
static void __attribute__((constructor)) api_init(void)
{
	dkm_session_set_fork_hook(api_fork_child);
}

static int __attribute__((noinline)) current_cpu_slow(void)
{
#if __has_include(<sys/rseq.h>) && defined(__x86_64__)
	if (!tl.cpu_id_known) {
		tl.cpu_id_known = true;
		if (__rseq_size)
			tl.cpu_id = (const volatile int32_t *)&(
				(const volatile struct rseq *)((char *)__builtin_thread_pointer() +
							       __rseq_offset))
					->cpu_id;
		if (*tl.cpu_id >= 0)
			return (int)*tl.cpu_id;
	}
#endif
	return sched_getcpu();
}

/* The CPU the thread runs on: from its rseq area where glibc registered one (no call). */
static inline int current_cpu(void)
{
	int cpu = (int)*tl.cpu_id;

	if (DKM_LIKELY(cpu >= 0))
		return cpu;
	return current_cpu_slow();
}

static struct dkm_pool *__attribute__((noinline)) pool_for_slow(daxkmem_kind_t kind, int cpu)
{
	struct dkm_pool *p = dkm_session_pool((unsigned)kind);

	if (!p)
		return NULL;
	if (cpu != tl.cpu) {
		forget_pools();
		tl.cpu = cpu;
	}
	tl.pool[kind] = p;
	tl.pid[kind] = (uint16_t)dkm_pool_id(p);
	return p;
}

/* The pool of a valid kind for the calling thread; NULL with errno. */
static inline struct dkm_pool *pool_for(daxkmem_kind_t kind)
{
	int cpu = current_cpu();

	if (DKM_LIKELY(cpu == tl.cpu && tl.pool[kind] != NULL))
		return tl.pool[kind];
	return pool_for_slow(kind, cpu);
}

/* Everything daxkmem_malloc's fast path leaves: a new pool, a new slab, large blocks, errors. */
static void *__attribute__((noinline)) malloc_slow(daxkmem_kind_t kind, size_t size)
{
	struct dkm_pool *p;
	void *ptr;

	if (!valid_kind(kind)) {
		errno = EINVAL;
		return NULL;
	}
	p = pool_for(kind);
	if (!p)
		return NULL;
	ptr = dkm_pool_malloc(p, size);
	if (!ptr)
		dkm_log_failure("daxkmem_malloc(%s, %zu): %s", dkm_kind_name((uint32_t)kind), size,
				strerror(errno));
	return ptr;
}

/*
 * The fast path: no call, no spill. While the thread stays on the CPU its
 * pools were looked up for, a block at hand in its cache of the kind's pool
 * (none for DETECT or before the first call: see tl).
 */
static inline __attribute__((always_inline)) void *api_malloc(daxkmem_kind_t kind, size_t size)
{
	if (DKM_LIKELY((unsigned)kind < DKM_NKINDS && *tl.cpu_id == tl.cpu)) {
		void *ptr = dkm_pool_malloc_fast(tl.pid[kind], size);

		if (DKM_LIKELY(ptr != NULL))
			return ptr;
	}
	return malloc_slow(kind, size);
}

DKM_EXPORT void *daxkmem_malloc(daxkmem_kind_t kind, size_t size)
{
	return api_malloc(kind, size);
}

DKM_EXPORT void *daxkmem_calloc(daxkmem_kind_t kind, size_t num, size_t size)
{
	size_t total;
	void *ptr;

	if (__builtin_mul_overflow(num, size, &total)) {
		errno = ENOMEM;
		dkm_log_failure("daxkmem_calloc(%s, %zu, %zu): the size overflows",
				valid_kind(kind) ? dkm_kind_name((uint32_t)kind) : "?", num, size);
		return NULL;
	}
	ptr = api_malloc(kind, total);
	if (ptr)
		memset(ptr, 0, total);
	return ptr;
}

/* The kind of a block of ours, or 0. */
static daxkmem_kind_t kind_of(const void *ptr)
{
	struct dkm_pool *p = dkm_block_pool(ptr);

	return p ? (daxkmem_kind_t)dkm_pool_tag(p) : DAXKMEM_KIND_DETECT;
}

/* Everything daxkmem_free's fast path leaves: remote frees, large blocks, misuse. */
static void __attribute__((noinline)) free_slow(daxkmem_kind_t kind, void *ptr)
{
	int r;

	if ((unsigned)kind > 3u) {
		dkm_report_misuse("daxkmem_free(%d, %p): invalid kind", (int)kind, ptr);
		return;
	}
	if (!ptr)
		return;
	r = dkm_block_free(ptr);
	if (r == -EINVAL)
		dkm_report_misuse("daxkmem_free(%p): not a block allocated by libdaxkmem-client", ptr);
	else if (r == -EALREADY)
		dkm_report_misuse("daxkmem_free(%p): double free", ptr);
}

/* The fast path: a block of a slab the calling thread owns (NULL is not one). */
static inline __attribute__((always_inline)) void api_free(daxkmem_kind_t kind, void *ptr)
{
	if (DKM_LIKELY((unsigned)kind <= 3u) && DKM_LIKELY(dkm_block_free_fast(ptr)))
		return;
	free_slow(kind, ptr);
}

DKM_EXPORT void daxkmem_free(daxkmem_kind_t kind, void *ptr)
{
	api_free(kind, ptr);
}

DKM_EXPORT size_t daxkmem_usable_size(daxkmem_kind_t kind, void *ptr)
{
	(void)kind;
	return ptr ? dkm_block_usable_size(ptr) : 0;
}

DKM_EXPORT void *daxkmem_realloc(daxkmem_kind_t kind, void *ptr, size_t size)
{
	daxkmem_kind_t old_kind;
	size_t old;
	void *n;

	if (!ptr) {
		if (kind == DAXKMEM_KIND_DETECT) {
			errno = EINVAL;
			return NULL;
		}
		return api_malloc(kind, size);
	}
	old_kind = kind_of(ptr);
	old = old_kind ? dkm_block_usable_size(ptr) : 0;
	if (!old) {
		dkm_report_misuse("daxkmem_realloc(%p): not a block allocated by libdaxkmem-client",
				  ptr);
		errno = EINVAL;
		return NULL;
	}
	if (kind == DAXKMEM_KIND_DETECT)
		kind = old_kind;
	if (!valid_kind(kind)) {
		errno = EINVAL;
		return NULL;
	}
	if (size == 0) {
		api_free(kind, ptr);
		return NULL;
	}
	/* Same kind and it still fits without wasting more than half: keep it. */
	if (kind == old_kind && size <= old && size >= old / 2)
		return ptr;
	n = api_malloc(kind, size);
	if (!n)
		return NULL; /* ptr stays valid */
	memcpy(n, ptr, size < old ? size : old);
	api_free(old_kind, ptr);
	return n;
}

DKM_EXPORT int daxkmem_posix_memalign(daxkmem_kind_t kind, void **memptr, size_t alignment,
				      size_t size)
{
	struct dkm_pool *p;
	int saved = errno, r;
	void *ptr;

	if (!memptr || !valid_kind(kind) || alignment < sizeof(void *) ||
	    (alignment & (alignment - 1)))
		return EINVAL;
	p = pool_for(kind);
	if (!p) {
		r = errno;
		errno = saved;
		return r;
	}
	ptr = dkm_pool_memalign(p, alignment, size);
	if (!ptr) {
		r = errno;
		dkm_log_failure("daxkmem_posix_memalign(%s, %zu, %zu): %s", dkm_kind_name((uint32_t)kind),
				alignment, size, strerror(r));
		errno = saved;
		return r;
	}
	*memptr = ptr;
	return 0;
}

DKM_EXPORT int daxkmem_detect_kind(const void *ptr)
{
	daxkmem_kind_t k = ptr ? kind_of(ptr) : DAXKMEM_KIND_DETECT;

	if (k == DAXKMEM_KIND_DETECT) {
		errno = EINVAL;
		return -1;
	}
	return (int)k;
}

DKM_EXPORT int daxkmem_check_available(daxkmem_kind_t kind)
{
	if (!valid_kind(kind))
		return EINVAL;
	return dkm_session_check((unsigned)kind);
}

DKM_EXPORT int daxkmem_node_of(const void *ptr)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = (void *)((uintptr_t)ptr & ~(uintptr_t)(page - 1));
	int node = -1;

	if (!ptr) {
		errno = EINVAL;
		return -1;
	}
	if (get_mempolicy(&node, NULL, 0, p, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -1;
	return node;
}

DKM_EXPORT daxkmem_region_t *daxkmem_region_get(daxkmem_kind_t kind, size_t size, int prefault)
{
	struct daxkmem_region *r;
	int err;

	if (!valid_kind(kind) || size == 0 || prefault < -1 || prefault > 1) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	err = dkm_session_region_get((unsigned)kind, size, 0, prefault, &r->r);
	if (err < 0) {
		free(r);
		errno = -err;
		return NULL;
	}
	r->kind = kind;
	return r;
}

DKM_EXPORT void *daxkmem_region_addr(const daxkmem_region_t *r)
{
	return r ? r->r->addr : NULL;
}

DKM_EXPORT size_t daxkmem_region_size(const daxkmem_region_t *r)
{
	return r ? r->r->size : 0;
}

DKM_EXPORT int daxkmem_region_fd(const daxkmem_region_t *r)
{
	return r ? r->r->fd : -1;
}

DKM_EXPORT void daxkmem_region_release(daxkmem_region_t *r)
{
	if (!r)
		return;
	dkm_session_region_put(r->r);
	free(r);
}
