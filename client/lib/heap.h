/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The allocator core of libdaxkmem-client: size-class slabs carved from
 * segments, per-thread caches with no lock on the fast path, remote frees,
 * medium blocks (to 2 MiB) as runs of whole 64 KiB slots of a segment, large
 * blocks as their own spans, and constant-time pointer-to-segment
 * lookup. It knows nothing of the daemon: memory comes from a source (the
 * library maps brokered memfd regions; the unit tests map anonymous memory).
 *
 * Structures (details and counting invariants in heap-internal.h):
 *   pool     one per (kind, CPU node): a tag (the kind), a source, and the
 *            segments mapped from it. Thread-safe; its slow paths take a lock.
 *   segment  DKM_SEGMENT_SIZE bytes (or a multiple, for a large span),
 *            aligned to DKM_SEGMENT_SIZE, starting with its header; found
 *            from any interior pointer by masking, and checked against a
 *            global radix map of live segments (foreign pointers are told
 *            apart without touching them).
 *   slab     a run of pages of a segment cut into blocks of one size class,
 *            used by one thread at a time (its owner) through the thread's
 *            cache; other threads free into it through an atomic list.
 *   block    what the caller gets. Small blocks are at least 16-byte aligned.
 */
#ifndef DKM_CLIENT_HEAP_H
#define DKM_CLIENT_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DKM_SEGMENT_SHIFT 22
#define DKM_SEGMENT_SIZE ((size_t)1 << DKM_SEGMENT_SHIFT) /* 4 MiB */

/* Where a pool's memory comes from. */
struct dkm_heap_source {
	void *ctx;
	/*
	 * Map size bytes (a multiple of DKM_SEGMENT_SIZE), read-write, aligned
	 * to DKM_SEGMENT_SIZE. Returns the address, or NULL with errno set
	 * (ENOMEM, EDQUOT, ENOTCONN ... passed through to the caller of malloc).
	 * *token is handed back to unmap.
	 */
	void *(*map)(void *ctx, size_t size, void **token);
	/* Give back what map returned. */
	void (*unmap)(void *ctx, void *addr, size_t size, void *token);
};

struct dkm_pool;

/*
 * A pool tagged tag (the library stores the kind there). Empty segments are
 * kept up to retain_bytes per pool for reuse, and returned to the source
 * beyond that. 0 or -ENOMEM.
 */
int dkm_pool_new(const struct dkm_heap_source *src, unsigned tag, size_t retain_bytes,
		 struct dkm_pool **ret);
/*
 * Return every segment to the source and free the pool. Blocks still
 * allocated from it become invalid. Only when no other thread uses it.
 */
void dkm_pool_destroy(struct dkm_pool *p);
unsigned dkm_pool_tag(const struct dkm_pool *p);
/*
 * The pool's id, what dkm_pool_malloc_fast takes: below DKM_HEAP_NO_POOL,
 * fixed for the pool's life, reused after it is destroyed.
 */
unsigned dkm_pool_id(const struct dkm_pool *p);
#define DKM_HEAP_NO_POOL 256 /* an id no pool has: its fast path finds nothing */

/* size bytes (0 gives a unique minimal block); NULL with errno (from the source, or ENOMEM). */
void *dkm_pool_malloc(struct dkm_pool *p, size_t size);
/*
 * The fast path of dkm_pool_malloc alone, for the library to inline (it is
 * always_inline, for link-time optimisation), for the pool whose id is id
 * (live, or DKM_HEAP_NO_POOL): a block, or NULL with errno untouched when
 * none is at hand (then call dkm_pool_malloc).
 */
void *dkm_pool_malloc_fast(unsigned id, size_t size);
/* size bytes aligned to align (a power of two); NULL with errno EINVAL/ENOMEM/... */
void *dkm_pool_memalign(struct dkm_pool *p, size_t align, size_t size);

/* The pool of a block, or NULL when ptr is not inside a block-bearing segment of a live pool. */
struct dkm_pool *dkm_block_pool(const void *ptr);
/*
 * Free a block of any pool, from any thread. Returns 0, -EINVAL for a
 * pointer that is not the start of a block handed out by some pool, or
 * -EALREADY for a block that is free already (detected cheaply: a freed
 * block carries a key, confirmed against the free lists; not guaranteed for
 * every case, but never a false report). The heap is not modified when an
 * error is returned.
 */
int dkm_block_free(void *ptr);
/*
 * The fast path of dkm_block_free alone, to inline likewise: true when ptr
 * was a block the calling thread's cache can take back at once, and now is
 * free; false for anything else (NULL included), heap untouched: then call
 * dkm_block_free.
 */
bool dkm_block_free_fast(void *ptr);
/* Usable size of the block starting at ptr, or 0 if ptr is not one. */
size_t dkm_block_usable_size(const void *ptr);

/*
 * The calling thread is done with all pools: hand its cached slabs back so
 * other threads can use them (called from a thread-exit destructor; also
 * safe to call at any time).
 */
void dkm_heap_thread_flush(void);

/*
 * In a child after fork(): forget the calling thread's caches and mark every
 * existing pool as inherited. Inherited pools still answer dkm_block_pool and
 * dkm_block_usable_size; dkm_block_free on their blocks returns 0 and does
 * nothing (their memory belongs to the parent's session); allocating from
 * them fails with EINVAL. Calls source->unmap for nothing. Must be
 * async-signal-safe enough for a pthread_atfork child handler (no locks
 * taken, no allocation).
 */
void dkm_heap_fork_child(void);
/* True for a pool marked inherited by dkm_heap_fork_child. */
bool dkm_pool_inherited(const struct dkm_pool *p);

/* Figures for tests and diagnostics. */
struct dkm_pool_stats {
	size_t segments;        /* segments mapped now (a large span counts once) */
	size_t mapped_bytes;    /* bytes mapped from the source now */
	size_t allocated_bytes; /* usable bytes of blocks handed out and not freed */
	size_t blocks;          /* blocks handed out and not freed */
};
void dkm_pool_stats(struct dkm_pool *p, struct dkm_pool_stats *st);

/* Size classes, for tests: the class sizes in ascending order. */
size_t dkm_heap_size_class_count(void);
size_t dkm_heap_size_class(size_t i);

#endif
