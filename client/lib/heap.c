/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The allocator core of libdaxkmem-client. Types, their invariants and a map
 * of the structures are in heap-internal.h; the interface is heap.h.
 *
 * Fast paths (no lock, no atomic read-modify-write, no division):
 *   malloc  TLS load, the thread's cache of the pool, the slab of the class
 *           (table lookup), pop its free list;
 *   free    one byte of the fast map (a live slab segment?), the slot's
 *           geometry in the segment header, block index by multiplication
 *           and rotation; key check; when the calling thread owns the slab,
 *           push onto its free list.
 * A free into a slab another thread owns pushes the block onto that cache's
 * inbox (CAS); the owner drains it when its slab runs dry. A slab whose owner
 * flushed (thread exit) is abandoned to the pool: frees into it take the pool
 * lock, and a thread short of a slab of that class adopts it. Medium blocks
 * (above DKM_CLASS_MAX, up to DKM_MEDIUM_MAX) are runs of whole slots taken
 * and given back under the pool lock; larger ones are spans of their own.
 */
#include "heap-internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------------ */
/* Assertions                                                               */
/* ------------------------------------------------------------------------ */

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

static void __attribute__((noreturn, cold)) assert_fail(const char *expr, const char *file,
							  int line)
{
	fprintf(stderr, "daxkmem heap: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

#define dkm_assert(x) ((x) ? (void)0 : assert_fail(#x, __FILE__, __LINE__))
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

int dkm_heap_debug_level(void)
{
	return DKM_HEAP_DEBUG;
}

/* ------------------------------------------------------------------------ */
/* Valgrind and ASan                                                        */
/* ------------------------------------------------------------------------ */

/*
 * Blocks handed out are Valgrind mempool chunks (anchor: the pool), so
 * destroying a pool forgets its blocks; free blocks and uncarved slab memory
 * are NOACCESS under Valgrind and poisoned under ASan. Our own accesses to a
 * free block's link and key go through the blk_* helpers below.
 */
static bool dkm_vg; /* running on Valgrind (set once, before any pool exists) */

/* Client requests need stack space: they live in functions of their own. */
#if DKM_HAVE_VALGRIND
static void __attribute__((noinline, cold)) vg_mempool_alloc(void *p, void *b, size_t n)
{
	VALGRIND_MEMPOOL_ALLOC(p, b, n);
}

static void __attribute__((noinline, cold)) vg_mempool_free(void *p, void *b)
{
	VALGRIND_MEMPOOL_FREE(p, b);
}

static void __attribute__((noinline, cold)) vg_defined(const void *a, size_t n)
{
	VALGRIND_MAKE_MEM_DEFINED(a, n);
}

static void __attribute__((noinline, cold)) vg_noaccess(const void *a, size_t n)
{
	VALGRIND_MAKE_MEM_NOACCESS(a, n);
}

static void __attribute__((noinline, cold)) vg_undefined(const void *a, size_t n)
{
	VALGRIND_MAKE_MEM_UNDEFINED(a, n);
}
#endif

static inline void track_alloc_vg(struct dkm_pool *p, void *b, size_t n, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		vg_mempool_alloc(p, b, n);
#endif
#if DKM_HAVE_ASAN
	ASAN_UNPOISON_MEMORY_REGION(b, n);
#endif
	(void)p, (void)b, (void)n, (void)vg;
}

#define track_alloc(p, b, n) track_alloc_vg(p, b, n, dkm_vg)

static inline void track_free_vg(struct dkm_pool *p, void *b, size_t n, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		vg_mempool_free(p, b);
#endif
#if DKM_HAVE_ASAN
	ASAN_POISON_MEMORY_REGION(b, n);
#endif
	(void)p, (void)b, (void)n, (void)vg;
}

#define track_free(p, b, n) track_free_vg(p, b, n, dkm_vg)

/* Memory no block may be in yet (uncarved slab space). */
static void track_noaccess(void *a, size_t n)
{
#if DKM_HAVE_VALGRIND
	if (dkm_vg)
		vg_noaccess(a, n);
#endif
#if DKM_HAVE_ASAN
	ASAN_POISON_MEMORY_REGION(a, n);
#endif
	(void)a, (void)n;
}

/* Memory taken from the source or the retained list: ours to write. */
static void track_fresh(void *a, size_t n)
{
#if DKM_HAVE_VALGRIND
	if (dkm_vg)
		vg_undefined(a, n);
#endif
#if DKM_HAVE_ASAN
	ASAN_UNPOISON_MEMORY_REGION(a, n);
#endif
	(void)a, (void)n;
}

/*
 * The helpers below take vg, "running on Valgrind": the fast paths pass a
 * constant false (under Valgrind they never run: see tls_thread and the fast
 * map), the rest pass dkm_vg.
 */
static inline void vg_open(const void *b, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		vg_defined(b, sizeof(struct dkm_block));
#endif
	(void)b, (void)vg;
}

static inline void vg_close(const void *b, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		vg_noaccess(b, sizeof(struct dkm_block));
#endif
	(void)b, (void)vg;
}

static uint64_t dkm_heap_secret; /* random, odd low bits: a key is never 0 */

static inline uint64_t key_of(const void *b)
{
	return dkm_heap_secret ^ (uint64_t)(uintptr_t)b;
}

/* The link of a free block. */
static inline DKM_NO_ASAN struct dkm_block *blk_next_vg(const struct dkm_block *b, bool vg)
{
	struct dkm_block *n;

	vg_open(b, vg);
	n = b->next;
	vg_close(b, vg);
	return n;
}

/* Make b a free block linked to next. */
static inline DKM_NO_ASAN void blk_set_vg(struct dkm_block *b, struct dkm_block *next, bool vg)
{
	vg_open(b, vg);
	b->next = next;
	b->key = key_of(b);
	vg_close(b, vg);
}

/* The same, with the key at hand (the free fast path computed it). */
static inline DKM_NO_ASAN void blk_set_key_vg(struct dkm_block *b, struct dkm_block *next,
					      uint64_t key, bool vg)
{
	vg_open(b, vg);
	b->next = next;
	b->key = key;
	vg_close(b, vg);
}

/* A block leaves the free lists: it must not look free any more. */
static inline DKM_NO_ASAN void blk_clear_key_vg(struct dkm_block *b, bool vg)
{
	vg_open(b, vg);
	b->key = 0;
	vg_close(b, vg);
}

#define blk_next(b) blk_next_vg(b, dkm_vg)
#define blk_set(b, next) blk_set_vg(b, next, dkm_vg)
#define blk_clear_key(b) blk_clear_key_vg(b, dkm_vg)

#if DKM_HAVE_VALGRIND
/* The key word of b, read without a report, its state left as it was. */
static uint64_t __attribute__((noinline, cold)) vg_read_key(const struct dkm_block *b)
{
	unsigned char vbits[8];
	unsigned r = VALGRIND_GET_VBITS(&b->key, vbits, 8);
	uint64_t k;

	VALGRIND_MAKE_MEM_DEFINED(&b->key, 8);
	k = b->key;
	if (r == 3)
		VALGRIND_MAKE_MEM_NOACCESS(&b->key, 8);
	else if (r == 1)
		(void)VALGRIND_SET_VBITS(&b->key, vbits, 8);
	return k;
}
#endif

/* The key word of b, free or handed out (not under Valgrind). */
static inline DKM_NO_ASAN uint64_t blk_key_raw(const struct dkm_block *b)
{
	return b->key;
}

/* Does b carry the key of a free block? b may be free or handed out. */
static inline DKM_NO_ASAN bool blk_keyed_vg(const struct dkm_block *b, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		return vg_read_key(b) == key_of(b);
#endif
	(void)vg;
	return b->key == key_of(b);
}

#define blk_keyed(b) blk_keyed_vg(b, dkm_vg)

/* ------------------------------------------------------------------------ */
/* Lists                                                                    */
/* ------------------------------------------------------------------------ */

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void dl_init(struct dkm_dlist *h)
{
	h->prev = h->next = h;
}

static inline bool dl_empty(const struct dkm_dlist *h)
{
	return h->next == h;
}

static inline void dl_add(struct dkm_dlist *h, struct dkm_dlist *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static inline void dl_del(struct dkm_dlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#define dl_first(h, type, member) (dl_empty(h) ? NULL : container_of((h)->next, type, member))

/* ------------------------------------------------------------------------ */
/* Size classes                                                             */
/* ------------------------------------------------------------------------ */

static uint32_t class_size[DKM_NCLASSES];      /* bytes */
static uint8_t class_slots[DKM_NCLASSES];      /* slots per slab */
static uint16_t class_batch[DKM_NCLASSES];     /* blocks carved at a time */
static uint32_t class_cap[DKM_NCLASSES];       /* blocks in a slab */
static uint32_t class_cap0[DKM_NCLASSES];      /* blocks in a slab in slot 0 (after the header) */
static uint32_t class_color[DKM_NCLASSES];     /* offset of block 0 from the slab's start */

#define SLOW_NEVER 0xffffu /* dkm_slab.slow_used of a cur slab */
static uint8_t small_class[DKM_SMALL_MAX + 1]; /* size -> class (no arithmetic: one load) */

/* The class of size bytes (size <= DKM_CLASS_MAX). */
static inline unsigned class_of(size_t size)
{
	size_t s;
	unsigned b;

	if (DKM_LIKELY(size <= DKM_SMALL_MAX))
		return small_class[size];
	s = size - 1;
	b = 63u - (unsigned)__builtin_clzl(s); /* 2^b <= s < 2^(b+1), b >= 10 */
	return 8 + (b - 7) * 4 + (unsigned)((s >> (b - 2)) & 3);
}

static unsigned class_of_slow(size_t size)
{
	size_t s;
	unsigned b;

	if (size <= 128)
		return size ? (unsigned)((size - 1) >> 4) : 0;
	s = size - 1;
	b = 63u - (unsigned)__builtin_clzl(s);
	return 8 + (b - 7) * 4 + (unsigned)((s >> (b - 2)) & 3);
}

/*
 * Slab coloring (Bonwick's slab allocator): block 0 of each class starts at
 * a different offset within the page, a multiple of the class' largest power
 * of two (its blocks keep their alignment), at most 1/32 of the slab. Without
 * it, the blocks each class hands out first all sit at the same page offset
 * (slabs are 64 KiB aligned), and a thread going from class to class pays
 * for the loads and stores that look alike to the CPU in their low 12 address
 * bits ("4K aliasing"). used marks the 16-byte page offsets taken.
 */
static uint32_t class_color_pick(unsigned c, uint32_t sz, uint8_t used[256])
{
	uint32_t step = sz & -sz;

	if (step >= 4096)
		return 0;
	for (uint32_t col = 0; col <= class_slots[c] * DKM_SLOT_SIZE / 32; col += step) {
		if (!used[col % 4096 / 16]) {
			used[col % 4096 / 16] = 1;
			return col;
		}
	}
	return 0;
}

static void classes_init(void)
{
	uint8_t used[256] = { 0 };

	for (unsigned c = 0; c < DKM_NCLASSES; c++) {
		uint32_t sz;

		if (c < 8) {
			sz = 16 * (c + 1);
		} else {
			unsigned b = 7 + (c - 8) / 4, k = (c - 8) % 4;

			sz = (1u << b) + (k + 1) * (1u << (b - 2));
		}
		class_size[c] = sz;
		/*
		 * The smallest slab (a power of two of slots) holding enough
		 * blocks (8, or 4 above 32 KiB) with at most 1/8 left over.
		 */
		for (unsigned k = 1; k <= DKM_MAX_SLAB_SLOTS; k *= 2) {
			size_t bytes = k * DKM_SLOT_SIZE, n = bytes / sz;

			if (n >= (sz > (32u << 10) ? 4u : 8u) && bytes - n * sz <= bytes / 8) {
				class_slots[c] = (uint8_t)k;
				break;
			}
		}
		dkm_assert(class_slots[c] != 0);
		/* slot 0 starts past the header: its blocks stay aligned to any power of two dividing bsize */
		dkm_assert(class_slots[c] > 1 || DKM_SEG_HEADER_SIZE % (sz & -sz) == 0);
		class_batch[c] = (uint16_t)(sz >= 4096 ? 1 : 4096 / sz);
		class_color[c] = class_color_pick(c, sz, used);
		class_cap[c] = (uint32_t)((class_slots[c] * DKM_SLOT_SIZE - class_color[c]) / sz);
		class_cap0[c] =
			(uint32_t)((DKM_SLOT_SIZE - DKM_SEG_HEADER_SIZE - class_color[c]) / sz);
		dkm_assert(class_cap[c] >= 4 && class_cap[c] < SLOW_NEVER);
	}
	dkm_assert(class_size[DKM_NCLASSES - 1] == DKM_CLASS_MAX);
	for (unsigned i = 0; i <= DKM_SMALL_MAX; i++)
		small_class[i] = (uint8_t)class_of_slow(i);
	for (size_t sz = 0; sz <= DKM_CLASS_MAX; sz += (sz < 4096 ? 1 : 97)) {
		unsigned c = class_of(sz);

		dkm_assert(class_size[c] >= sz && (c == 0 || class_size[c - 1] < sz));
	}
}

static void heap_init_once(void);

size_t dkm_heap_size_class_count(void)
{
	return DKM_NCLASSES;
}

size_t dkm_heap_size_class(size_t i)
{
	heap_init_once();
	return i < DKM_NCLASSES ? class_size[i] : 0;
}

/* ------------------------------------------------------------------------ */
/* Global state                                                             */
/* ------------------------------------------------------------------------ */

static struct dkm_slab empty_slab; /* free == NULL: the fast path falls through */
static struct dkm_tcache empty_tcache = {
	.uid = 0,
	.cur = { [0 ... DKM_NCLASSES - 1] = &empty_slab },
	.inbox = DKM_INBOX_DEAD,
};
static struct dkm_thread empty_thread = {
	.tc = { [0 ... DKM_HEAP_NO_POOL] = &empty_tcache },
};
/*
 * The calling thread's caches; &empty_thread until its first slow path. Under
 * Valgrind they are kept in tls_thread_vg instead, so that the malloc fast
 * path, finding no block in &empty_thread, always takes the slow path, which
 * has the client requests (and the free fast path never runs: no fastmap).
 */
static __thread struct dkm_thread *tls_thread __attribute__((tls_model("initial-exec"))) =
	&empty_thread;
static __thread struct dkm_thread *tls_thread_vg __attribute__((tls_model("initial-exec"))) =
	&empty_thread;

static inline struct dkm_thread *my_thread(void)
{
	return DKM_UNLIKELY(dkm_vg) ? tls_thread_vg : tls_thread;
}

static inline void set_my_thread(struct dkm_thread *t)
{
	if (dkm_vg)
		tls_thread_vg = t;
	else
		tls_thread = t;
}

static pthread_once_t heap_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER; /* taken before pool locks */
static struct dkm_pool *registry[DKM_HEAP_MAX_POOLS];              /* live pools by id */
static struct dkm_dlist threads = { &threads, &threads };          /* live dkm_threads */
static uint64_t next_uid = 1;                                      /* under registry_lock */

static void heap_init(void)
{
	uint64_t r = 0;

	classes_init();
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&r ^
		    ((uint64_t)getpid() << 17);
	}
	dkm_heap_secret = r | 5; /* block addresses are 16-aligned: key != 0 */
#if DKM_HAVE_VALGRIND
	dkm_vg = RUNNING_ON_VALGRIND != 0;
#endif
}

static void heap_init_once(void)
{
	pthread_once(&heap_once, heap_init);
}

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

/* ------------------------------------------------------------------------ */
/* Metadata: threads and caches                                             */
/* ------------------------------------------------------------------------ */

/*
 * Thread and cache structures come from anonymous memory and are recycled,
 * never unmapped: another thread may still hold a stale pointer to a cache
 * (as a slab's owner) and push onto its inbox.
 */
static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static char *meta_cur, *meta_end;               /* bump area, under meta_lock */
static struct dkm_thread *thread_recycle;       /* under meta_lock */
static struct dkm_tcache *tcache_recycle;       /* under meta_lock */

#define META_CHUNK ((size_t)256 << 10)

static void *meta_bump(size_t size)
{
	void *r;

	size = (size + 63) & ~(size_t)63;
	if ((size_t)(meta_end - meta_cur) < size) {
		void *m = mmap(NULL, META_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (m == MAP_FAILED)
			return NULL;
		meta_cur = m;
		meta_end = meta_cur + META_CHUNK;
	}
	r = meta_cur;
	meta_cur += size;
	return r;
}

static struct dkm_thread *thread_alloc(void)
{
	struct dkm_thread *t;

	pthread_mutex_lock(&meta_lock);
	t = thread_recycle;
	if (t)
		thread_recycle = t->recycle;
	else
		t = meta_bump(sizeof(*t));
	pthread_mutex_unlock(&meta_lock);
	if (!t)
		return NULL;
	for (unsigned i = 0; i <= DKM_HEAP_NO_POOL; i++)
		t->tc[i] = &empty_tcache;
	t->recycle = NULL;
	pthread_mutex_lock(&registry_lock);
	dl_add(&threads, &t->link);
	pthread_mutex_unlock(&registry_lock);
	return t;
}

static void thread_recycle_put(struct dkm_thread *t)
{
	pthread_mutex_lock(&meta_lock);
	t->recycle = thread_recycle;
	thread_recycle = t;
	pthread_mutex_unlock(&meta_lock);
}

static struct dkm_tcache *tcache_alloc(void)
{
	struct dkm_tcache *tc;

	pthread_mutex_lock(&meta_lock);
	tc = tcache_recycle;
	if (tc)
		tcache_recycle = tc->recycle;
	else
		tc = meta_bump(sizeof(*tc));
	pthread_mutex_unlock(&meta_lock);
	return tc;
}

/* Its inbox is DEAD: stale pushers go elsewhere until it serves a pool again. */
static void tcache_recycle_put(struct dkm_tcache *tc)
{
	tc->uid = 0;
	pthread_mutex_lock(&meta_lock);
	tc->recycle = tcache_recycle;
	tcache_recycle = tc;
	pthread_mutex_unlock(&meta_lock);
}

/* ------------------------------------------------------------------------ */
/* Radix map of live segments                                               */
/* ------------------------------------------------------------------------ */

#define RADIX_ADDR_BITS 48
#define RADIX_LEAF_BITS 12
#define RADIX_TOP_BITS (RADIX_ADDR_BITS - DKM_SEGMENT_SHIFT - RADIX_LEAF_BITS) /* 14 */

/* Leaves are allocated on first use and never freed. */
static _Atomic(_Atomic uint32_t *) radix_top[(size_t)1 << RADIX_TOP_BITS];

/* The live segment holding address a, or NULL. Touches only the map. */
static inline struct dkm_segment *radix_head(uintptr_t a)
{
	uintptr_t g = a >> DKM_SEGMENT_SHIFT;
	_Atomic uint32_t *leaf;
	uint32_t e;

	if (DKM_UNLIKELY(g >> (RADIX_TOP_BITS + RADIX_LEAF_BITS)))
		return NULL;
	leaf = atomic_load_explicit(&radix_top[g >> RADIX_LEAF_BITS], memory_order_acquire);
	if (DKM_UNLIKELY(!leaf))
		return NULL;
	e = atomic_load_explicit(&leaf[g & (((uintptr_t)1 << RADIX_LEAF_BITS) - 1)],
				 memory_order_acquire);
	if (DKM_UNLIKELY(!e))
		return NULL;
	return (struct dkm_segment *)((g - (e - 1)) << DKM_SEGMENT_SHIFT);
}

/*
 * The free fast path's filter: one byte per 4 MiB of the lower 128 TiB of
 * the address space (32 MiB of zero pages, a page of it touched per 16 GiB
 * of address space in use), 1 for a live slab segment only, and never under
 * Valgrind (whose frees take the slow path). A single load from an address
 * computed from the pointer, and no bit to extract.
 */
#define FASTMAP_BITS 25 /* addresses below 2^47 */
static _Atomic uint8_t fastmap[(size_t)1 << FASTMAP_BITS];

static inline bool fastmap_test(uintptr_t a)
{
	uintptr_t g = a >> DKM_SEGMENT_SHIFT;

	if (DKM_UNLIKELY(g >= ((uintptr_t)1 << FASTMAP_BITS)))
		return false;
	return atomic_load_explicit(&fastmap[g], memory_order_acquire) != 0;
}

static void fastmap_set(struct dkm_segment *seg, bool live)
{
	uintptr_t g = (uintptr_t)seg >> DKM_SEGMENT_SHIFT;

	if (dkm_vg || g >> FASTMAP_BITS)
		return;
	atomic_store_explicit(&fastmap[g], live, memory_order_release);
}

/* Publish (live) or withdraw the n segments from seg. 0 or -ENOMEM. */
static int radix_set(struct dkm_segment *seg, size_t n, bool live)
{
	uintptr_t g0 = (uintptr_t)seg >> DKM_SEGMENT_SHIFT;

	if ((g0 + n) > ((uintptr_t)1 << (RADIX_TOP_BITS + RADIX_LEAF_BITS)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uintptr_t g = g0 + i;
		_Atomic(_Atomic uint32_t *) *slot = &radix_top[g >> RADIX_LEAF_BITS];
		_Atomic uint32_t *leaf = atomic_load_explicit(slot, memory_order_acquire);

		if (!leaf) {
			_Atomic uint32_t *expect = NULL;
			size_t sz = sizeof(uint32_t) << RADIX_LEAF_BITS;
			void *m;

			dkm_assert(live);
			m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED) {
				radix_set(seg, i, false);
				return -ENOMEM;
			}
			if (atomic_compare_exchange_strong(slot, &expect, m)) {
				leaf = m;
			} else {
				munmap(m, sz);
				leaf = expect;
			}
		}
		atomic_store_explicit(&leaf[g & (((uintptr_t)1 << RADIX_LEAF_BITS) - 1)],
				      live ? (uint32_t)(i + 1) : 0, memory_order_release);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Segments, spans and the source                                           */
/* ------------------------------------------------------------------------ */

_Static_assert(sizeof(struct dkm_slab) == 64, "one cache line per slab descriptor");
_Static_assert(sizeof(struct dkm_segment) <= DKM_SEG_HEADER_SIZE, "slab segment header");
_Static_assert(offsetof(struct dkm_segment, slabs) <= DKM_SPAN_HEADER_SIZE, "large span header");

static inline struct dkm_segment *seg_of(const void *ptr)
{
	return (struct dkm_segment *)((uintptr_t)ptr & ~(DKM_SEGMENT_SIZE - 1));
}

static inline char *slab_base(const struct dkm_segment *seg, const struct dkm_slab *s)
{
	return (char *)seg + s->start;
}

/* The slab covering ptr in the slab segment seg (a zeroed descriptor for a free slot). */
static inline struct dkm_slab *slab_of(struct dkm_segment *seg, const void *ptr)
{
	uintptr_t h = seg->slot_map[((uintptr_t)ptr >> DKM_SLOT_SHIFT) & (DKM_SLOTS - 1)];

	return (struct dkm_slab *)((uintptr_t)seg + offsetof(struct dkm_segment, slabs) +
				   h * sizeof(struct dkm_slab));
}

/* Offset of the descriptor of the slab whose first slot is i. */
static inline uint16_t slab_offset(unsigned i)
{
	return (uint16_t)(offsetof(struct dkm_segment, slabs) + i * sizeof(struct dkm_slab));
}

/* The geometry the free fast path reads, for a slot of the slab s whose first slot is i. */
static struct dkm_slot_geo slot_geo(const struct dkm_slab *s, unsigned i)
{
	unsigned shift = (unsigned)__builtin_ctz(s->bsize);
	uint32_t odd = s->bsize >> shift, inv = odd;

	for (unsigned k = 0; k < 5; k++)
		inv *= 2 - odd * inv; /* Newton: 3, 6, 12, 24, 48 bits right */
	dkm_assert(odd * inv == 1);
	return (struct dkm_slot_geo){
		.start = (uint32_t)((uintptr_t)seg_of(s) + s->start),
		.inv = inv,
		.slab = slab_offset(i),
		.shift = (uint8_t)shift,
	};
}

/* The geometry of a free slot i: no block there. */
static inline struct dkm_slot_geo slot_geo_free(unsigned i)
{
	return (struct dkm_slot_geo){ .slab = slab_offset(i) };
}

/* Blocks of s out of its free list (handed out or in inboxes). */
static inline uint16_t slab_used(const struct dkm_slab *s)
{
	return (uint16_t)(s->used_rel + s->slow_used);
}

/* Set where (and slow_used, which follows it for an owned slab); used is kept. */
static inline void slab_set_where(struct dkm_slab *s, enum dkm_slab_where w, uint16_t cap)
{
	uint16_t used = slab_used(s);

	s->where = (uint8_t)w;
	s->slow_used = w == DKM_SLAB_NONE ? SLOW_NEVER : w == DKM_SLAB_FULL ? (uint16_t)(cap - 1) : 0;
	s->used_rel = (uint16_t)(used - s->slow_used);
}

/* Blocks that fit in s (no division: refill asks often). */
static inline uint32_t slab_capacity(const struct dkm_slab *s)
{
	return s->start < DKM_SLOT_SIZE ? class_cap0[s->cls] : class_cap[s->cls];
}

static inline struct dkm_block *slab_block(const struct dkm_segment *seg,
					   const struct dkm_slab *s, uint32_t idx)
{
	return (struct dkm_block *)(slab_base(seg, s) + (size_t)idx * s->bsize);
}

/* Give memory back to the source. Never under the pool lock. */
static void source_unmap(struct dkm_pool *p, void *addr, size_t size, void *token)
{
	track_fresh(addr, size); /* drop poisoning before the range can be reused */
	p->src.unmap(p->src.ctx, addr, size, token);
}

/* Unmap everything on the list (segments taken off their pool). */
static void unmap_list(struct dkm_pool *p, struct dkm_dlist *l)
{
	while (!dl_empty(l)) {
		struct dkm_segment *seg = container_of(l->next, struct dkm_segment, link);

		dl_del(&seg->link);
		source_unmap(p, seg, seg->span_size, seg->token);
	}
}

/*
 * Memory of size bytes from the retained list (size <= span <= max), or NULL.
 * Under the lock. The header's span_size and token describe it.
 */
static struct dkm_segment *retained_take(struct dkm_pool *p, size_t size, size_t max)
{
	for (struct dkm_dlist *n = p->retained.next; n != &p->retained; n = n->next) {
		struct dkm_segment *seg = container_of(n, struct dkm_segment, link);

		if (seg->span_size >= size && seg->span_size <= max) {
			dl_del(&seg->link);
			p->retained_bytes -= seg->span_size;
			return seg;
		}
	}
	return NULL;
}

/*
 * An emptied segment or span, already out of the radix map and of its lists:
 * keep it within retain_bytes, or queue it on unmap for source_unmap after
 * the lock is dropped. Under the lock.
 */
static void segment_retire(struct dkm_pool *p, struct dkm_segment *seg, struct dkm_dlist *unmap)
{
	if (p->retained_bytes + seg->span_size <= p->retain_bytes) {
		dl_add(&p->retained, &seg->link);
		p->retained_bytes += seg->span_size;
		return;
	}
	p->nsegments--;
	p->mapped_bytes -= seg->span_size;
	dl_add(unmap, &seg->link);
}

/*
 * size bytes (a multiple of the segment size) from the retained list or the
 * source. Called and returns with the lock held; drops it while mapping.
 * NULL with errno.
 */
static struct dkm_segment *span_get(struct dkm_pool *p, size_t size, size_t max)
{
	struct dkm_segment *seg = retained_take(p, size, max);
	struct dkm_dlist purge;
	void *token = NULL, *m;
	int err;

	if (seg)
		return seg;
	dl_init(&purge);
	pthread_mutex_unlock(&p->lock);
	m = p->src.map(p->src.ctx, size, &token);
	err = errno;
	pthread_mutex_lock(&p->lock);
	if (!m && !dl_empty(&p->retained)) {
		/* short of memory: give back what we keep, try once more */
		while (!dl_empty(&p->retained)) {
			seg = container_of(p->retained.next, struct dkm_segment, link);
			dl_del(&seg->link);
			p->retained_bytes -= seg->span_size;
			p->nsegments--;
			p->mapped_bytes -= seg->span_size;
			dl_add(&purge, &seg->link);
		}
		pthread_mutex_unlock(&p->lock);
		unmap_list(p, &purge);
		m = p->src.map(p->src.ctx, size, &token);
		err = errno;
		pthread_mutex_lock(&p->lock);
	}
	if (!m) {
		errno = err ? err : ENOMEM;
		return NULL;
	}
	dkm_assert(((uintptr_t)m & (DKM_SEGMENT_SIZE - 1)) == 0);
	seg = m;
	track_fresh(seg, DKM_SEG_HEADER_SIZE);
	seg->span_size = size;
	seg->token = token;
	p->nsegments++;
	p->mapped_bytes += size;
	return seg;
}

/* A new slab segment for p, on segs and avail. Under the lock (dropped while mapping). */
static struct dkm_segment *segment_new(struct dkm_pool *p)
{
	struct dkm_segment *seg = span_get(p, DKM_SEGMENT_SIZE, DKM_SEGMENT_SIZE);
	size_t span;
	void *token;

	if (!seg)
		return NULL;
	span = seg->span_size;
	token = seg->token;
	track_fresh(seg, DKM_SEG_HEADER_SIZE);
	memset(seg, 0, DKM_SEG_HEADER_SIZE);
	for (unsigned i = 0; i < DKM_SLOTS; i++) {
		seg->slot_map[i] = (uint8_t)i; /* a free slot: its own zeroed descriptor */
		seg->geo[i] = slot_geo_free(i);
	}
	seg->pool = p;
	seg->pool_id = p->id;
	seg->kind = DKM_SEG_SLABS;
	seg->magic = DKM_SEG_MAGIC;
	seg->span_size = span;
	seg->token = token;
	seg->free_slots = ~(uint64_t)0;
	dl_init(&seg->link);
	dl_init(&seg->alink);
	if (radix_set(seg, 1, true) < 0) {
		struct dkm_dlist l;

		dl_init(&l);
		segment_retire(p, seg, &l);
		pthread_mutex_unlock(&p->lock);
		unmap_list(p, &l);
		pthread_mutex_lock(&p->lock);
		errno = ENOMEM;
		return NULL;
	}
	fastmap_set(seg, true);
	dl_add(&p->segs, &seg->link);
	dl_add(&p->avail, &seg->alink);
	seg->in_avail = 1;
	return seg;
}

/* ------------------------------------------------------------------------ */
/* Slabs                                                                    */
/* ------------------------------------------------------------------------ */

#if DKM_HEAP_DEBUG >= 2
/*
 * Expensive checks (level 2), on slab and segment transitions. A slab whose
 * owner is the calling thread (or the pool, under its lock): its free list
 * is well formed and counts carved - used blocks.
 */
static bool slab_consistent(struct dkm_slab *s)
{
	struct dkm_segment *seg = seg_of(s);
	uint32_t n = 0;

	if (s->cls == DKM_CLASS_MEDIUM)
		return !s->free && slab_used(s) == s->carved && s->carved <= 1;

	for (struct dkm_block *b = s->free; b; b = blk_next(b)) {
		size_t off = (size_t)((char *)b - slab_base(seg, s));

		if ((char *)b < slab_base(seg, s) || off % s->bsize || off / s->bsize >= s->carved ||
		    !blk_keyed(b) || ++n > s->carved)
			return false;
	}
	return n + slab_used(s) == s->carved;
}

/* The slot map, the free bits and the slab count agree. */
static bool segment_consistent(struct dkm_segment *seg)
{
	unsigned nslabs = 0;

	if (seg->magic != DKM_SEG_MAGIC || seg->kind != DKM_SEG_SLABS)
		return false;
	for (unsigned i = 0; i < DKM_SLOTS; i++) {
		unsigned h = seg->slot_map[i];
		bool free = (seg->free_slots >> i) & 1;

		if (free && (h != i || seg->slabs[i].carved || seg->slabs[i].bsize))
			return false;
		if (free && memcmp(&seg->geo[i], &(struct dkm_slot_geo){ .slab = slab_offset(i) },
				   sizeof(seg->geo[i])))
			return false;
		if (!free && h == i) {
			const struct dkm_slab *s = &seg->slabs[i];

			nslabs++;
			if (s->start >> DKM_SLOT_SHIFT != i)
				return false;
			for (unsigned j = i; j < i + s->nslots; j++)
				if (seg->slot_map[j] != i ||
				    seg->geo[j].start != slot_geo(s, i).start ||
				    seg->geo[j].slab != slab_offset(i) ||
				    seg->geo[j].inv != slot_geo(s, i).inv ||
				    seg->geo[j].shift != slot_geo(s, i).shift)
					return false;
		}
	}
	return nslabs == seg->nslabs && seg->in_avail == (seg->free_slots != 0);
}
#endif

#define slab_check(s) dkm_assert_expensive(slab_consistent(s))
#define segment_check(seg) dkm_assert_expensive(segment_consistent(seg))

/* A free run of k slots (k > 1: aligned, not slot 0); its first slot or -1. */
static int slots_find(uint64_t free, unsigned k)
{
	if (k == 1)
		return free ? __builtin_ctzll(free) : -1;
	for (int j = (int)(DKM_SLOTS - k); j > 0; j -= (int)k) {
		uint64_t m = (((uint64_t)1 << k) - 1) << j;

		if ((free & m) == m)
			return j;
	}
	return -1;
}

/* A free run of k slots anywhere but slot 0 (medium blocks), the lowest; its first slot or -1. */
static int slots_find_run(uint64_t free, unsigned k)
{
	uint64_t x = free & ~(uint64_t)1;

	/* bit j of x stays set while slots j .. j + i are all free */
	for (unsigned i = 1; i < k && x; i++)
		x &= free >> i;
	return x ? __builtin_ctzll(x) : -1;
}

/*
 * A segment of p with a free run of k slots as find() places it (one from
 * the source if none has), and the run's first slot in *j. Under the lock
 * (dropped while mapping). NULL with errno.
 */
static struct dkm_segment *segment_with_room(struct dkm_pool *p, unsigned k,
					      int (*find)(uint64_t, unsigned), int *j)
{
	struct dkm_segment *seg;

	for (struct dkm_dlist *n = p->avail.next; n != &p->avail; n = n->next) {
		seg = container_of(n, struct dkm_segment, alink);
		*j = find(seg->free_slots, k);
		if (*j >= 0)
			return seg;
	}
	seg = segment_new(p);
	if (!seg)
		return NULL;
	*j = find(seg->free_slots, k);
	dkm_assert(*j >= 0);
	return seg;
}

/*
 * Slots [j, j + k) of seg become the slab seg->slabs[j] of class cls (or
 * DKM_CLASS_MEDIUM), block size bsize, block 0 at start: nothing carved, no
 * owner, where NONE. Under the lock.
 */
static struct dkm_slab *slots_take(struct dkm_segment *seg, unsigned j, unsigned k,
				   unsigned cls, uint32_t bsize, uint32_t start)
{
	struct dkm_slab *s = &seg->slabs[j];

	memset(s, 0, sizeof(*s));
	s->bsize = bsize;
	s->recip = (uint32_t)((((uint64_t)1 << 32) + s->bsize - 1) / s->bsize);
	s->start = start;
	s->cls = (uint8_t)cls;
	s->nslots = (uint8_t)k;
	slab_set_where(s, DKM_SLAB_NONE, 0);
	dl_init(&s->link);
	for (unsigned i = j; i < j + k; i++) {
		seg->slot_map[i] = (uint8_t)j;
		seg->geo[i] = slot_geo(s, j);
	}
	seg->free_slots &= ~((((uint64_t)1 << (k - 1)) * 2 - 1) << j);
	seg->nslabs++;
	if (!seg->free_slots && seg->in_avail) {
		dl_del(&seg->alink);
		seg->in_avail = 0;
	}
	return s;
}

/* A new slab of class c owned by tc. Under the lock. NULL with errno. */
static struct dkm_slab *slab_new(struct dkm_pool *p, unsigned c, struct dkm_tcache *tc)
{
	unsigned k = class_slots[c];
	struct dkm_segment *seg;
	struct dkm_slab *s;
	char *base;
	int j;

	seg = segment_with_room(p, k, slots_find, &j);
	if (!seg)
		return NULL;
	s = slots_take(seg, (unsigned)j, k, c, class_size[c],
		       (j == 0 ? (uint32_t)DKM_SEG_HEADER_SIZE : (uint32_t)j << DKM_SLOT_SHIFT) +
			       class_color[c]);
	s->thread = tc->thread;
	atomic_store_explicit(&s->owner, tc, memory_order_relaxed);
	base = slab_base(seg, s);
	track_noaccess(base, ((size_t)j + k) * DKM_SLOT_SIZE - s->start);
	dkm_assert_internal(((uintptr_t)base & ((s->bsize & -s->bsize) - 1)) == 0);
	segment_check(seg);
	return s;
}

/*
 * A slab with no block out goes back to its segment; an emptied segment
 * leaves the pool (onto unmap, or retained). Under the lock; s is on no list.
 */
static void slab_release(struct dkm_pool *p, struct dkm_slab *s, struct dkm_dlist *unmap)
{
	struct dkm_segment *seg = seg_of(s);
	unsigned j = s->start >> DKM_SLOT_SHIFT, k = s->nslots;

	dkm_assert(slab_used(s) == 0 && s->where == DKM_SLAB_NONE);
	slab_check(s);
	memset(s, 0, sizeof(*s)); /* carved 0: no block here for the free fast path */
	for (unsigned i = j; i < j + k; i++) {
		seg->slot_map[i] = (uint8_t)i;
		seg->geo[i] = slot_geo_free(i);
	}
	seg->free_slots |= (((uint64_t)1 << (k - 1)) * 2 - 1) << j;
	seg->nslabs--;
	if (!seg->in_avail) {
		dl_add(&p->avail, &seg->alink);
		seg->in_avail = 1;
	}
	segment_check(seg);
	if (seg->nslabs == 0) {
		dl_del(&seg->alink);
		seg->in_avail = 0;
		dl_del(&seg->link);
		fastmap_set(seg, false);
		radix_set(seg, 1, false);
		segment_retire(p, seg, unmap);
	}
}

/* Carve the next batch of blocks onto the free list (owner). */
static void slab_carve(struct dkm_slab *s)
{
	struct dkm_segment *seg = seg_of(s);
	uint32_t n = slab_capacity(s) - s->carved, i;
	struct dkm_block *b, *next = s->free;

	if (n > class_batch[s->cls])
		n = class_batch[s->cls];
	for (i = n; i-- > 0;) {
		b = slab_block(seg, s, s->carved + i);
		blk_set(b, next);
		next = b;
	}
	s->free = next;
	s->carved += n;
}

/* Hand a slab over to the pool (its owner flushes). Under the lock. */
static void slab_abandon(struct dkm_pool *p, struct dkm_slab *s, struct dkm_dlist *unmap)
{
	slab_check(s);
	if (s->where != DKM_SLAB_NONE)
		dl_del(&s->link);
	s->where = DKM_SLAB_NONE;
	s->thread = NULL;
	atomic_store_explicit(&s->owner, NULL, memory_order_release);
	if (slab_used(s) == 0) {
		slab_release(p, s, unmap);
	} else if (s->free || s->carved < slab_capacity(s)) {
		s->where = DKM_SLAB_ABANDONED;
		dl_add(&p->abandoned[s->cls], &s->link);
	}
}

/* Free b into an abandoned slab. Under the lock. */
static void free_abandoned(struct dkm_pool *p, struct dkm_slab *s, struct dkm_block *b,
			   struct dkm_dlist *unmap)
{
	dkm_assert_internal(atomic_load_explicit(&s->owner, memory_order_relaxed) == NULL);
	dkm_assert(slab_used(s) > 0);
	blk_set(b, s->free);
	s->free = b;
	s->used_rel--;
	if (slab_used(s) == 0) {
		if (s->where != DKM_SLAB_NONE)
			dl_del(&s->link);
		s->where = DKM_SLAB_NONE;
		slab_release(p, s, unmap);
	} else if (s->where == DKM_SLAB_NONE) {
		s->where = DKM_SLAB_ABANDONED;
		dl_add(&p->abandoned[s->cls], &s->link);
	}
}

/* ------------------------------------------------------------------------ */
/* Thread caches                                                            */
/* ------------------------------------------------------------------------ */

/* Take the whole inbox (its owner, or a retiring thread setting tag). */
static struct dkm_block *inbox_take(struct dkm_tcache *tc, uintptr_t tag)
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

/* Push b onto o's inbox; false if o is retired. */
static bool inbox_push(struct dkm_tcache *o, struct dkm_block *b)
{
	uintptr_t h = atomic_load_explicit(&o->inbox, memory_order_relaxed);

	do {
		if (h & DKM_INBOX_DEAD)
			return false;
		blk_set(b, (struct dkm_block *)(h & ~DKM_INBOX_TAGS));
	} while (!atomic_compare_exchange_weak_explicit(&o->inbox, &h,
							(uintptr_t)b | (h & DKM_INBOX_SCAN),
							memory_order_release, memory_order_relaxed));
	return true;
}

/*
 * Hold o's inbox still (it may grow, not be taken); the list at that moment,
 * or false when o is retired. inbox_unhold() when done.
 */
static bool inbox_hold(struct dkm_tcache *o, struct dkm_block **list)
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

static void inbox_unhold(struct dkm_tcache *o)
{
	atomic_fetch_and_explicit(&o->inbox, ~DKM_INBOX_SCAN, memory_order_release);
}

static bool list_contains(struct dkm_block *l, const struct dkm_block *b, uint32_t max)
{
	for (uint32_t n = 0; l && n <= max; l = blk_next(l), n++)
		if (l == b)
			return true;
	return false;
}

static bool inbox_contains(struct dkm_tcache *o, const struct dkm_block *b)
{
	struct dkm_block *l;
	bool found = false;

	if (!inbox_hold(o, &l))
		return false;
	for (; l && !found; l = blk_next(l))
		found = l == b;
	inbox_unhold(o);
	return found;
}

/* The owner's slow path after a local free into s (s full, or emptied and not cur). */
static void __attribute__((noinline)) free_local_slow(struct dkm_tcache *tc, struct dkm_slab *s)
{
	if (s->where == DKM_SLAB_FULL) {
		/* at the tail: refill takes the slabs that had longest to collect frees */
		dl_del(&s->link);
		slab_set_where(s, DKM_SLAB_PARTIAL, 0);
		dl_add(tc->partial[s->cls].prev, &s->link);
	}
	if (slab_used(s) == 0 && s->where != DKM_SLAB_NONE) {
		struct dkm_pool *p = tc->pool;
		struct dkm_dlist unmap;

		dl_init(&unmap);
		dl_del(&s->link);
		s->where = DKM_SLAB_NONE;
		pthread_mutex_lock(&p->lock);
		slab_release(p, s, &unmap);
		pthread_mutex_unlock(&p->lock);
		unmap_list(p, &unmap);
	}
}

static int free_other(struct dkm_segment *seg, struct dkm_slab *s, struct dkm_block *b);

/* Free blocks others pushed onto tc's inbox (owner). */
static void inbox_drain(struct dkm_tcache *tc, struct dkm_block *l)
{
	while (l) {
		struct dkm_block *next = blk_next(l);
		struct dkm_segment *seg = seg_of(l);
		struct dkm_slab *s = slab_of(seg, l);

		if (atomic_load_explicit(&s->owner, memory_order_relaxed) == tc) {
			blk_set(l, s->free);
			s->free = l;
			dkm_assert_internal(slab_used(s) > 0);
			if (--s->used_rel == 0)
				free_local_slow(tc, s);
		} else {
			/* pushed here through a stale owner: pass it on */
			free_other(seg, s, l);
		}
		l = next;
	}
}

/* Attach a cache to p for the calling thread; NULL with errno. */
static struct dkm_tcache *tcache_get(struct dkm_pool *p)
{
	struct dkm_thread *t = my_thread();
	struct dkm_tcache *tc;

	if (t == &empty_thread) {
		t = thread_alloc();
		if (!t) {
			errno = ENOMEM;
			return NULL;
		}
		set_my_thread(t);
	}
	tc = t->tc[p->id];
	if (tc != &empty_tcache) {
		dkm_assert_internal(tc->uid == p->uid);
		return tc;
	}
	tc = tcache_alloc();
	if (!tc) {
		errno = ENOMEM;
		return NULL;
	}
	/* fresh or recycled */
	for (unsigned c = 0; c < DKM_NCLASSES; c++) {
		tc->cur[c] = &empty_slab;
		dl_init(&tc->partial[c]);
		dl_init(&tc->full[c]);
	}
	tc->pool = p;
	tc->thread = t;
	tc->recycle = NULL;
	atomic_store_explicit(&tc->inbox, 0, memory_order_release);
	tc->uid = p->uid;
	pthread_mutex_lock(&p->lock);
	dl_add(&p->tcaches, &tc->plink);
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

	inbox_drain(tc, inbox_take(tc, 0));
	dl_init(&unmap);
	pthread_mutex_lock(&p->lock);
	for (unsigned c = 0; c < DKM_NCLASSES; c++) {
		struct dkm_slab *s;

		if (tc->cur[c] != &empty_slab)
			slab_abandon(p, tc->cur[c], &unmap);
		tc->cur[c] = &empty_slab;
		while ((s = dl_first(&tc->partial[c], struct dkm_slab, link)))
			slab_abandon(p, s, &unmap);
		while ((s = dl_first(&tc->full[c], struct dkm_slab, link)))
			slab_abandon(p, s, &unmap);
	}
	dl_del(&tc->plink);
	pthread_mutex_unlock(&p->lock);
	unmap_list(p, &unmap);
	/* frees that raced with the above: their slabs are ownerless now */
	l = inbox_take(tc, DKM_INBOX_DEAD);
	while (l) {
		struct dkm_block *next = blk_next(l);
		struct dkm_segment *seg = seg_of(l);

		free_other(seg, slab_of(seg, l), l);
		l = next;
	}
}

void dkm_heap_thread_flush(void)
{
	struct dkm_thread *t = my_thread();

	if (t == &empty_thread)
		return;
	set_my_thread(&empty_thread);
	/* the registry lock keeps the pools alive, and their destroy off t->tc[] */
	pthread_mutex_lock(&registry_lock);
	for (unsigned id = 0; id < DKM_HEAP_MAX_POOLS; id++) {
		struct dkm_tcache *tc = t->tc[id];

		if (tc == &empty_tcache)
			continue;
		t->tc[id] = &empty_tcache;
		dkm_assert(registry[id] == tc->pool && tc->pool->uid == tc->uid);
		if (!tc->pool->inherited)
			tcache_retire(tc);
		else
			atomic_store_explicit(&tc->inbox, DKM_INBOX_DEAD, memory_order_relaxed);
		tcache_recycle_put(tc);
	}
	dl_del(&t->link);
	pthread_mutex_unlock(&registry_lock);
	thread_recycle_put(t);
}

/* ------------------------------------------------------------------------ */
/* Allocation                                                               */
/* ------------------------------------------------------------------------ */

/* Make tc->cur[c] a slab with a free block. Owner; NULL with errno. */
static struct dkm_slab *refill(struct dkm_pool *p, struct dkm_tcache *tc, unsigned c)
{
	struct dkm_slab *s = tc->cur[c];
	struct dkm_dlist unmap;
	struct dkm_block *l;

	if (atomic_load_explicit(&tc->inbox, memory_order_relaxed) & ~DKM_INBOX_TAGS) {
		l = inbox_take(tc, 0);
		inbox_drain(tc, l);
		if (s->free)
			return s;
	}
	if (s != &empty_slab) {
		dkm_assert_internal(s->where == DKM_SLAB_NONE);
		if (s->carved < slab_capacity(s)) {
			slab_carve(s);
			return s;
		}
		slab_check(s);
		dkm_assert_internal(slab_used(s) == slab_capacity(s));
		slab_set_where(s, DKM_SLAB_FULL, (uint16_t)slab_capacity(s));
		dl_add(&tc->full[c], &s->link);
		tc->cur[c] = &empty_slab;
	}
	s = dl_first(&tc->partial[c], struct dkm_slab, link);
	if (s) {
		dl_del(&s->link);
	} else {
		dl_init(&unmap);
		pthread_mutex_lock(&p->lock);
		s = dl_first(&p->abandoned[c], struct dkm_slab, link);
		if (s) {
			/* adopt */
			dl_del(&s->link);
			s->thread = tc->thread;
			atomic_store_explicit(&s->owner, tc, memory_order_release);
			slab_check(s);
		} else {
			s = slab_new(p, c, tc);
		}
		pthread_mutex_unlock(&p->lock);
		if (!s)
			return NULL;
	}
	slab_set_where(s, DKM_SLAB_NONE, 0);
	tc->cur[c] = s;
	if (!s->free)
		slab_carve(s);
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
	s->free = blk_next(b);
	s->used_rel++;
	blk_clear_key(b);
	track_alloc(p, b, s->bsize);
	return b;
}

/* A large block: a span of its own. NULL with errno. */
static void *large_alloc(struct dkm_pool *p, size_t size, size_t align)
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
	seg = span_get(p, span, 2 * span);
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
	if (radix_set(seg, span >> DKM_SEGMENT_SHIFT, true) < 0) {
		struct dkm_dlist l;

		dl_init(&l);
		segment_retire(p, seg, &l);
		pthread_mutex_unlock(&p->lock);
		unmap_list(p, &l);
		errno = ENOMEM;
		return NULL;
	}
	dl_add(&p->large, &seg->link);
	p->large_blocks++;
	p->large_bytes += usable;
	pthread_mutex_unlock(&p->lock);
	track_fresh(block, usable);
	track_alloc(p, block, usable);
	return block;
}

/*
 * A medium block (DKM_CLASS_MAX < size <= DKM_MEDIUM_MAX): the lowest run
 * of enough whole slots in a segment with room, past slot 0, as a slab of
 * one block with no owner (so that frees, from any thread, go to
 * medium_free). 64 KiB aligned. NULL with errno.
 */
static void *medium_alloc(struct dkm_pool *p, size_t size)
{
	unsigned k = (unsigned)((size + DKM_SLOT_SIZE - 1) >> DKM_SLOT_SHIFT);
	struct dkm_segment *seg;
	struct dkm_slab *s;
	char *block;
	int j;

	dkm_assert(k >= 1 && size <= DKM_MEDIUM_MAX);
	pthread_mutex_lock(&p->lock);
	seg = segment_with_room(p, k, slots_find_run, &j);
	if (!seg) {
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	s = slots_take(seg, (unsigned)j, k, DKM_CLASS_MEDIUM, k << DKM_SLOT_SHIFT,
		       (uint32_t)j << DKM_SLOT_SHIFT);
	s->carved = 1;
	s->used_rel = (uint16_t)(1 - s->slow_used); /* used 1 */
	block = slab_base(seg, s);
	segment_check(seg);
	pthread_mutex_unlock(&p->lock);
	track_alloc(p, block, s->bsize);
	return block;
}

static void *__attribute__((noinline)) malloc_slow(struct dkm_pool *p, size_t size)
{
	struct dkm_tcache *tc;

	if (p->inherited) {
		errno = EINVAL;
		return NULL;
	}
	if (size > DKM_CLASS_MAX)
		return size <= DKM_MEDIUM_MAX ? medium_alloc(p, size)
					      : large_alloc(p, size, DKM_SPAN_HEADER_SIZE);
	tc = tcache_get(p);
	if (!tc)
		return NULL;
	return small_alloc(p, tc, class_of(size));
}

/*
 * The fast path: a block from the slab the calling thread's cache of p
 * allocates from for the class, or NULL (errno untouched) when there is no
 * block at hand there, or size is large. Under Valgrind, tls_thread is
 * &empty_thread, whose slabs have no block.
 */
__attribute__((always_inline)) inline void *dkm_pool_malloc_fast(unsigned id, size_t size)
{
	struct dkm_tcache *tc = tls_thread->tc[id]; /* &empty_tcache: its slabs have no block */
	struct dkm_slab *s;
	struct dkm_block *b;
	unsigned c;

	if (DKM_LIKELY(size <= DKM_SMALL_MAX))
		c = small_class[size];
	else if (size <= DKM_CLASS_MAX)
		c = class_of(size);
	else
		return NULL;
	s = tc->cur[c];
	b = s->free;
	if (DKM_UNLIKELY(b == NULL))
		return NULL;
	dkm_assert_internal(atomic_load_explicit(&s->owner, memory_order_relaxed) == tc);
	s->free = blk_next_vg(b, false);
	s->used_rel++;
	blk_clear_key_vg(b, false);
	track_alloc_vg(NULL, b, s->bsize, false); /* ASan only: no Valgrind here */
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
		for (unsigned c = class_of(size > align ? size : align); c < DKM_NCLASSES; c++) {
			if (class_size[c] % align)
				continue;
			tc = tcache_get(p);
			if (!tc)
				return NULL;
			return small_alloc(p, tc, c);
		}
	}
	/* medium blocks are slot aligned */
	if (size > DKM_CLASS_MAX && size <= DKM_MEDIUM_MAX && align <= DKM_SLOT_SIZE)
		return medium_alloc(p, size);
	return large_alloc(p, size, align);
}

/* ------------------------------------------------------------------------ */
/* Free                                                                     */
/* ------------------------------------------------------------------------ */

/* Free b (already validated) into a slab the calling thread does not own. */
static int free_other(struct dkm_segment *seg, struct dkm_slab *s, struct dkm_block *b)
{
	struct dkm_pool *p = seg->pool;

	for (;;) {
		struct dkm_tcache *o = atomic_load_explicit(&s->owner, memory_order_acquire), *o2;
		struct dkm_dlist unmap;

		if (o && inbox_push(o, b))
			return 0;
		dl_init(&unmap);
		pthread_mutex_lock(&p->lock);
		o2 = atomic_load_explicit(&s->owner, memory_order_acquire);
		if (!o2) {
			free_abandoned(p, s, b, &unmap);
			pthread_mutex_unlock(&p->lock);
			unmap_list(p, &unmap);
			return 0;
		}
		pthread_mutex_unlock(&p->lock);
		if (o2 == o)
			sched_yield(); /* o is retiring, not done with its slabs yet */
	}
}

/*
 * b carries the key of a free block. -EALREADY if it is found free; 0 (and
 * nothing done) otherwise: then the key is a coincidence or the block sits
 * where we cannot look without racing with its owner, and freeing it again
 * would corrupt the lists if it were free (at worst a block that really was
 * out, with the secret key in its second word, is leaked).
 */
static int __attribute__((noinline)) free_keyed(struct dkm_segment *seg, struct dkm_slab *s,
						struct dkm_block *b)
{
	struct dkm_pool *p = seg->pool;
	struct dkm_tcache *me = my_thread()->tc[seg->pool_id], *o;
	bool found = false;

	if (p->inherited)
		return 0;
	o = atomic_load_explicit(&s->owner, memory_order_acquire);
	if (o && o == me) {
		found = list_contains(s->free, b, s->carved) || inbox_contains(o, b);
	} else if (o) {
		found = inbox_contains(o, b);
	} else {
		pthread_mutex_lock(&p->lock);
		if (!atomic_load_explicit(&s->owner, memory_order_relaxed))
			found = list_contains(s->free, b, s->carved);
		pthread_mutex_unlock(&p->lock);
	}
	return found ? -EALREADY : 0;
}

/* Free into a slab not owned by the calling thread's cache. */
static int __attribute__((noinline)) free_not_mine(struct dkm_segment *seg, struct dkm_slab *s,
						   struct dkm_block *b)
{
	if (seg->pool->inherited)
		return 0;
	track_free(seg->pool, b, s->bsize);
	return free_other(seg, s, b);
}

/* A pointer whose slot holds no slab: a large block, or not a block. */
static int __attribute__((noinline)) free_nonslab(struct dkm_segment *seg, void *ptr)
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
	track_free(p, ptr, seg->usable);
	radix_set(seg, seg->span_size >> DKM_SEGMENT_SHIFT, false);
	dl_init(&unmap);
	pthread_mutex_lock(&p->lock);
	dl_del(&seg->link);
	p->large_blocks--;
	p->large_bytes -= seg->usable;
	segment_retire(p, seg, &unmap);
	pthread_mutex_unlock(&p->lock);
	unmap_list(p, &unmap);
	return 0;
}

/*
 * The slab and index of the block starting at a (in the live slab segment
 * seg), or NULL: not at a block start, in a header, or never carved.
 */
static inline struct dkm_slab *slab_lookup(struct dkm_segment *seg, uintptr_t a)
{
	unsigned h = seg->slot_map[(a >> DKM_SLOT_SHIFT) & (DKM_SLOTS - 1)];
	struct dkm_slab *s;
	uint64_t off, idx;

	if (DKM_UNLIKELY(h >= DKM_SLOTS))
		return NULL;
	s = &seg->slabs[h];
	/* below start (the header) wraps around: no multiple of bsize */
	off = a - (uintptr_t)seg - s->start;
	idx = (off * s->recip) >> 32;
	if (DKM_UNLIKELY(idx * s->bsize != off || idx >= __atomic_load_n(&s->carved, __ATOMIC_RELAXED)))
		return NULL;
	return s;
}

/*
 * Free the medium block at ptr, found in the live slab segment seg without
 * the lock: found again under it (another thread may have freed it
 * meanwhile: -EALREADY), and its slots go back to the segment.
 */
static int __attribute__((noinline)) medium_free(struct dkm_segment *seg, void *ptr)
{
	struct dkm_pool *p = seg->pool;
	struct dkm_dlist unmap;
	struct dkm_slab *s;
	int r = 0;

	if (p->inherited)
		return 0;
	dl_init(&unmap);
	pthread_mutex_lock(&p->lock);
	s = slab_lookup(seg, (uintptr_t)ptr);
	if (!s || s->cls != DKM_CLASS_MEDIUM || slab_used(s) != 1) {
		r = -EALREADY;
	} else {
		track_free(p, ptr, s->bsize);
		s->carved = 0;
		s->used_rel = (uint16_t)(0 - s->slow_used); /* used 0 */
		slab_release(p, s, &unmap);
	}
	pthread_mutex_unlock(&p->lock);
	unmap_list(p, &unmap);
	return r;
}

/* Every pointer the fast path does not handle: not a block, a large block, Valgrind. */
static int __attribute__((noinline)) free_slow(void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	struct dkm_segment *seg = radix_head(a);
	struct dkm_block *b = ptr;
	struct dkm_slab *s;

	if (!seg)
		return -EINVAL;
	if (seg != seg_of(ptr))
		return free_nonslab(seg, ptr);
	s = slab_lookup(seg, a);
	if (!s)
		return free_nonslab(seg, ptr);
	if (DKM_UNLIKELY(s->cls == DKM_CLASS_MEDIUM))
		return medium_free(seg, ptr);
	if (blk_keyed(b))
		return free_keyed(seg, s, b);
	if (s->thread == my_thread()) {
		struct dkm_tcache *tc = my_thread()->tc[seg->pool_id];

		track_free(seg->pool, b, s->bsize);
		blk_set(b, s->free);
		s->free = b;
		dkm_assert_internal(slab_used(s) > 0);
		if (--s->used_rel == 0)
			free_local_slow(tc, s);
		return 0;
	}
	return free_not_mine(seg, s, b);
}

static inline uint32_t ror32(uint32_t x, unsigned r)
{
	return (x >> r) | (x << ((32 - r) & 31));
}

/*
 * The fast path: ptr is a block of a live slab segment (one byte of the fast
 * map), its index follows from the slot's geometry (see dkm_slot_geo), it
 * does not carry the key of a free block, and the calling thread owns its
 * slab: push it onto the slab's free list. The segment is taken from the
 * pointer, not from the radix map, so the loads of its header do not wait
 * for the map's: they are only used once the map says it is a live slab
 * segment (a branch, not a data dependency). Anything else (NULL, a pointer
 * not ours, a large block, a suspected double free, a remote free, Valgrind)
 * returns false, and dkm_block_free looks again from the start.
 */
__attribute__((always_inline)) inline bool dkm_block_free_fast(void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	struct dkm_segment *seg = seg_of(ptr);
	struct dkm_block *b = ptr;
	const struct dkm_slot_geo *g;
	struct dkm_slab *s;
	uint32_t idx;
	uint64_t key;

	if (DKM_UNLIKELY(!fastmap_test(a)))
		return false;
	g = &seg->geo[(a >> DKM_SLOT_SHIFT) & (DKM_SLOTS - 1)];
	s = (struct dkm_slab *)((char *)seg + g->slab);
	/* below start (the header) wraps around: no block index */
	idx = ror32(((uint32_t)a - g->start) * g->inv, g->shift);
	if (DKM_UNLIKELY(idx >= __atomic_load_n(&s->carved, __ATOMIC_RELAXED)))
		return false;
	key = key_of(b);
	if (DKM_UNLIKELY(blk_key_raw(b) == key))
		return false;
	if (DKM_UNLIKELY(s->thread != tls_thread))
		return false;
	dkm_assert_internal(atomic_load_explicit(&s->owner, memory_order_relaxed) ==
			    tls_thread->tc[seg->pool_id]);
	track_free_vg(seg->pool, b, s->bsize, false);
	blk_set_key_vg(b, s->free, key, false);
	s->free = b;
	dkm_assert_internal(slab_used(s) > 0);
	if (DKM_UNLIKELY(--s->used_rel == 0))
		free_local_slow(tls_thread->tc[seg->pool_id], s);
	return true;
}

int dkm_block_free(void *ptr)
{
	if (DKM_LIKELY(dkm_block_free_fast(ptr)))
		return 0;
	return free_slow(ptr);
}

size_t dkm_block_usable_size(const void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	struct dkm_segment *seg = radix_head(a);
	struct dkm_slab *s;

	if (!seg)
		return 0;
	if (seg == seg_of(ptr) && (s = slab_lookup(seg, a)))
		return s->bsize;
	if (seg->kind == DKM_SEG_LARGE && (const char *)ptr == seg->block)
		return seg->usable;
	return 0;
}

struct dkm_pool *dkm_block_pool(const void *ptr)
{
	struct dkm_segment *seg = radix_head((uintptr_t)ptr);

	return seg ? seg->pool : NULL;
}

/* ------------------------------------------------------------------------ */
/* Pools                                                                    */
/* ------------------------------------------------------------------------ */

int dkm_pool_new(const struct dkm_heap_source *src, unsigned tag, size_t retain_bytes,
		 struct dkm_pool **ret)
{
	struct dkm_pool *p;
	int id = -1;

	heap_init_once();
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->tag = tag;
	p->src = *src;
	p->retain_bytes = retain_bytes;
	pthread_mutex_init(&p->lock, NULL);
	dl_init(&p->segs);
	dl_init(&p->avail);
	dl_init(&p->large);
	dl_init(&p->retained);
	dl_init(&p->tcaches);
	for (unsigned c = 0; c < DKM_NCLASSES; c++)
		dl_init(&p->abandoned[c]);
	pthread_mutex_lock(&registry_lock);
	for (unsigned i = 0; i < DKM_HEAP_MAX_POOLS; i++) {
		if (!registry[i]) {
			id = (int)i;
			break;
		}
	}
	if (id >= 0) {
		p->id = (uint16_t)id;
		p->uid = next_uid++;
		registry[id] = p;
	}
	pthread_mutex_unlock(&registry_lock);
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
	pthread_mutex_lock(&registry_lock);
	registry[p->id] = NULL;
	for (struct dkm_dlist *n = threads.next; n != &threads; n = n->next) {
		struct dkm_thread *t = container_of(n, struct dkm_thread, link);
		struct dkm_tcache *tc = t->tc[p->id];

		if (tc == &empty_tcache)
			continue;
		t->tc[p->id] = &empty_tcache;
		atomic_store_explicit(&tc->inbox, DKM_INBOX_DEAD, memory_order_relaxed);
		tcache_recycle_put(tc);
	}
	pthread_mutex_unlock(&registry_lock);
	dl_init(&all);
	while (!dl_empty(&p->segs)) {
		struct dkm_segment *seg = container_of(p->segs.next, struct dkm_segment, link);

		dl_del(&seg->link);
		fastmap_set(seg, false);
		radix_set(seg, 1, false);
		dl_add(&all, &seg->link);
	}
	while (!dl_empty(&p->large)) {
		struct dkm_segment *seg = container_of(p->large.next, struct dkm_segment, link);

		dl_del(&seg->link);
		radix_set(seg, seg->span_size >> DKM_SEGMENT_SHIFT, false);
		dl_add(&all, &seg->link);
	}
	while (!dl_empty(&p->retained)) {
		struct dkm_segment *seg = container_of(p->retained.next, struct dkm_segment, link);

		dl_del(&seg->link);
		dl_add(&all, &seg->link);
	}
	if (p->inherited) {
		/* the memory is the parent's: forget it, do not unmap */
		while (!dl_empty(&all))
			dl_del(all.next);
	} else {
		unmap_list(p, &all);
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

void dkm_heap_fork_child(void)
{
	/* only this thread survives; locks held by others at fork() stay held: reset them */
	tls_thread = &empty_thread;
	tls_thread_vg = &empty_thread;
	registry_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	meta_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	thread_recycle = NULL;
	tcache_recycle = NULL;
	meta_cur = meta_end = NULL;
	dl_init(&threads); /* the parent's threads are not ours */
	for (unsigned i = 0; i < DKM_HEAP_MAX_POOLS; i++) {
		struct dkm_pool *p = registry[i];

		if (!p)
			continue;
		p->inherited = true;
		p->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	}
}

/* Blocks of p in o's inbox (the stats subtract them: freed, not yet drained). */
static void inbox_count(struct dkm_pool *p, struct dkm_tcache *o, size_t *blocks, size_t *bytes)
{
	struct dkm_block *l;

	if (!inbox_hold(o, &l))
		return;
	for (; l; l = blk_next(l)) {
		struct dkm_segment *seg = seg_of(l);

		if (seg->pool == p) {
			struct dkm_slab *s = slab_of(seg, l);

			(*blocks)++;
			*bytes += s->bsize;
		}
	}
	inbox_unhold(o);
}

void dkm_pool_stats(struct dkm_pool *p, struct dkm_pool_stats *st)
{
	size_t blocks = 0, bytes = 0, pend_blocks = 0, pend_bytes = 0;

	pthread_mutex_lock(&p->lock);
	for (struct dkm_dlist *n = p->segs.next; n != &p->segs; n = n->next) {
		struct dkm_segment *seg = container_of(n, struct dkm_segment, link);

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
		inbox_count(p, container_of(n, struct dkm_tcache, plink), &pend_blocks,
			    &pend_bytes);
	st->segments = p->nsegments;
	st->mapped_bytes = p->mapped_bytes;
	st->blocks = blocks - pend_blocks + p->large_blocks;
	st->allocated_bytes = bytes - pend_bytes + p->large_bytes;
	pthread_mutex_unlock(&p->lock);
}

/* ------------------------------------------------------------------------ */
/* Consistency check (tests)                                                */
/* ------------------------------------------------------------------------ */

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "dkm_heap_check_pool: " __VA_ARGS__); \
			fputc('\n', stderr);                                  \
			problems++;                                           \
		}                                                             \
	} while (0)

int dkm_heap_check_pool(struct dkm_pool *p)
{
	struct dkm_tcache *me = my_thread()->tc[p->id];
	size_t nseg = 0, mapped = 0, retained = 0;
	int problems = 0;

	pthread_mutex_lock(&p->lock);
	for (struct dkm_dlist *n = p->segs.next; n != &p->segs; n = n->next) {
		struct dkm_segment *seg = container_of(n, struct dkm_segment, link);
		unsigned nslabs = 0;

		nseg++;
		mapped += seg->span_size;
		CHECK(seg->magic == DKM_SEG_MAGIC && seg->kind == DKM_SEG_SLABS && seg->pool == p,
		      "segment %p: bad header", (void *)seg);
		CHECK(radix_head((uintptr_t)seg) == seg, "segment %p: not in the map", (void *)seg);
		CHECK(seg->in_avail == (seg->free_slots != 0), "segment %p: avail flag",
		      (void *)seg);
		for (unsigned i = 0; i < DKM_SLOTS; i++) {
			unsigned h = seg->slot_map[i];
			struct dkm_slab *s = &seg->slabs[i];
			struct dkm_tcache *o;
			long nfree = 0;

			CHECK(((seg->free_slots >> i) & 1) ==
				      (h == i && s->bsize == 0 && s->carved == 0),
			      "segment %p slot %u: free bit", (void *)seg, i);
			if (h != i || s->bsize == 0)
				continue;
			nslabs++;
			if (s->cls == DKM_CLASS_MEDIUM) {
				CHECK(i > 0 && s->start == i << DKM_SLOT_SHIFT &&
					      s->bsize == (uint32_t)s->nslots << DKM_SLOT_SHIFT &&
					      s->nslots >= 1 && i + s->nslots <= DKM_SLOTS &&
					      s->bsize <= DKM_MEDIUM_MAX && s->carved == 1 &&
					      slab_used(s) == 1 && !s->free && !s->thread &&
					      !atomic_load_explicit(&s->owner, memory_order_relaxed) &&
					      s->where == DKM_SLAB_NONE,
				      "medium block %p: geometry", (void *)slab_base(seg, s));
				continue;
			}
			CHECK(s->start >> DKM_SLOT_SHIFT == i && s->bsize == class_size[s->cls] &&
				      s->nslots == class_slots[s->cls] &&
				      s->carved <= slab_capacity(s) && slab_used(s) <= s->carved,
			      "slab %p: geometry", (void *)s);
			o = atomic_load_explicit(&s->owner, memory_order_relaxed);
			if (o && o != me)
				continue; /* another thread's: its lists are its own */
			for (struct dkm_block *b = s->free; b; b = blk_next(b)) {
				struct dkm_slab *bs = slab_lookup(seg, (uintptr_t)b);

				if (bs != s || !blk_keyed(b) || ++nfree > (long)s->carved) {
					CHECK(0, "slab %p: bad free block %p", (void *)s, (void *)b);
					break;
				}
			}
			/* blocks on inboxes still count as used */
			CHECK((size_t)nfree + slab_used(s) == s->carved,
			      "slab %p (class %u): %ld free + %u used != %u carved", (void *)s,
			      s->bsize, nfree, slab_used(s), s->carved);
			if (!o) {
				bool room = s->free || s->carved < slab_capacity(s);

				CHECK(slab_used(s) > 0, "slab %p: abandoned and empty", (void *)s);
				CHECK(room == (s->where == DKM_SLAB_ABANDONED),
				      "slab %p: abandoned listing", (void *)s);
			} else {
				bool full = !s->free && s->carved == slab_capacity(s);

				CHECK(s->thread == me->thread, "slab %p: thread", (void *)s);
				CHECK((s->where == DKM_SLAB_NONE) == (me->cur[s->cls] == s),
				      "slab %p: cur", (void *)s);
				CHECK(s->where == DKM_SLAB_NONE ||
					      s->where == (full ? DKM_SLAB_FULL : DKM_SLAB_PARTIAL),
				      "slab %p: listing", (void *)s);
			}
		}
		CHECK(nslabs == seg->nslabs, "segment %p: %u slabs, header says %u", (void *)seg,
		      nslabs, seg->nslabs);
		CHECK(nslabs > 0, "segment %p: empty but kept", (void *)seg);
	}
	for (struct dkm_dlist *n = p->large.next; n != &p->large; n = n->next) {
		struct dkm_segment *seg = container_of(n, struct dkm_segment, link);

		nseg++;
		mapped += seg->span_size;
		CHECK(seg->kind == DKM_SEG_LARGE && radix_head((uintptr_t)seg->block) == seg,
		      "span %p: bad", (void *)seg);
	}
	for (struct dkm_dlist *n = p->retained.next; n != &p->retained; n = n->next) {
		struct dkm_segment *seg = container_of(n, struct dkm_segment, link);

		nseg++;
		mapped += seg->span_size;
		retained += seg->span_size;
		CHECK(radix_head((uintptr_t)seg) == NULL, "retained %p: in the map", (void *)seg);
	}
	CHECK(nseg == p->nsegments && mapped == p->mapped_bytes && retained == p->retained_bytes,
	      "pool counters: %zu/%zu segments, %zu/%zu bytes, %zu/%zu retained", nseg,
	      p->nsegments, mapped, p->mapped_bytes, retained, p->retained_bytes);
	CHECK(retained <= p->retain_bytes, "retained %zu > %zu", retained, p->retain_bytes);
	pthread_mutex_unlock(&p->lock);
	return problems;
}
