/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Types of the allocator core (client/lib/heap-*.c), and hooks for its unit
 * test.
 *
 * Map of the structures
 *
 *   dkm_pool ──┬─ segs      slab segments (all of them)   ─┐ under pool->lock
 *              ├─ avail     slab segments with a free slot │
 *              ├─ large     live large spans               │
 *              ├─ retained  empty memory kept for reuse    │
 *              ├─ abandoned[class]  ownerless slabs with room
 *              └─ tcaches   thread caches serving the pool ┘
 *
 *   dkm_segment  4 MiB, aligned: an 8 KiB header, then 64 slots of 64 KiB.
 *                slot_map[slot] is the first slot of the slab covering it
 *                (itself when free); slabs[first slot] describes that slab.
 *                Slot 0 holds the header: only one-slot slabs go there.
 *   large span   N segments: a 4 KiB header (a dkm_segment without slabs),
 *                then one block, aligned as asked; kind DKM_SEG_LARGE.
 *   dkm_slab     2^k slots (k <= 5), aligned to its own size, cut into blocks
 *                of one size class, carved lazily from the start. A slab in
 *                slot 0 starts past the header (only classes <= 8 KiB go
 *                there, so its blocks keep their natural alignment); block 0
 *                is offset by the class' color.
 *   medium block a run of whole slots of a slab segment (not slot 0) holding
 *                one block of more than DKM_CLASS_MAX bytes, up to
 *                DKM_MEDIUM_MAX: a slab of class DKM_CLASS_MEDIUM with one
 *                block, carved and used, and no owner; allocated and freed
 *                under pool->lock, never cached by a thread.
 *   dkm_block    a free block: a link and a key in its first 16 bytes.
 *
 *   dkm_tls_thread ─> dkm_thread ─> tc[pool id] ─> dkm_tcache (one per
 *                thread and pool): cur[class] (the slab malloc pops from),
 *                partial and full lists of the other slabs the cache owns,
 *                and an inbox where other threads push the blocks they free
 *                into them.
 *
 *   radix map    address >> 22 -> 0 (not ours), 1 (a live segment's head),
 *                d + 1 (d segments past the head of a live large span).
 *   fast map     address >> 22 -> one byte: a live slab segment (what the
 *                free fast path checks; empty under Valgrind).
 *
 * Size classes: 16-byte steps up to 128, then four per power of two up to
 * DKM_CLASS_MAX (256 KiB); every class is a multiple of 16. Requests above
 * DKM_CLASS_MAX are medium up to DKM_MEDIUM_MAX (2 MiB: whole 64 KiB slots,
 * so at most a slot is wasted), and above that large, with a span of their
 * own.
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
 *
 * Files (the interface is heap.h; each file's first comment says its job; a
 * header heap-X.h declares what heap-X.c shares, with the inline helpers of
 * its concern; all of it is hidden from the library's users):
 *   heap-alloc.c    malloc: its fast path, refill, aligned allocation
 *   heap-free.c     free: its fast path, remote frees, suspected double
 *                   frees; the size and pool of a block
 *   heap-cache.c    thread caches: attaching one, inboxes, the owner's slow
 *                   path after a local free, the flush at thread exit
 *   heap-slab.c     slabs: slots of a segment, carving, abandoning, releasing
 *   heap-medium.c   medium blocks: runs of whole slots
 *   heap-large.c    large blocks: a span each
 *   heap-segment.c  segments and spans: the source and the retained list
 *   heap-map.c      the radix map and the fast map of live segments
 *   heap-class.c    size classes
 *   heap-pool.c     pools: creation, destruction, figures
 *   heap-init.c     global state, initialisation, memory for thread and cache
 *                   structures, what a child forgets after fork()
 *   heap-check.c    the assertion handler and consistency checks
 *   heap-track.c    Valgrind client requests, out of line
 *   track.h         the Valgrind and ASan hooks
 *   heap-assert.h   assertions and branch hints
 *   heap-block.h    a free block's link and key
 *   heap-list.h     intrusive lists
 */
#ifndef DKM_CLIENT_HEAP_INTERNAL_H
#define DKM_CLIENT_HEAP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"

#define DKM_SLOT_SHIFT 16
#define DKM_SLOT_SIZE ((size_t)1 << DKM_SLOT_SHIFT)               /* 64 KiB */
#define DKM_SLOTS ((unsigned)(DKM_SEGMENT_SIZE / DKM_SLOT_SIZE))  /* 64 */
#define DKM_SLOT_FREE 0xffu                                      /* slot_map of a large span */
#define DKM_SEG_HEADER_SIZE ((size_t)8192)  /* header of a slab segment */
#define DKM_SPAN_HEADER_SIZE ((size_t)4096) /* header of a large span */
#define DKM_SMALL_MAX 1024                  /* classes found by table lookup */
#define DKM_CLASS_MAX ((size_t)256 << 10)   /* above: a large span */
#define DKM_NCLASSES 52
#define DKM_MAX_SLAB_SLOTS 32               /* 2 MiB */
#define DKM_MEDIUM_MAX ((size_t)32 << DKM_SLOT_SHIFT) /* above: a large span */
#define DKM_CLASS_MEDIUM 0xffu              /* dkm_slab.cls of a medium block */
#define DKM_HEAP_MAX_POOLS 256              /* live pools at once */
_Static_assert(DKM_HEAP_NO_POOL == DKM_HEAP_MAX_POOLS, "no pool: past the last id");
#define DKM_HEAP_MAX_SIZE ((size_t)1 << 46) /* larger requests fail with ENOMEM */

/* Low bits of dkm_tcache.inbox (blocks are 16-byte aligned). */
#define DKM_INBOX_SCAN ((uintptr_t)1) /* a thread walks the list: it may not be taken */
#define DKM_INBOX_DEAD ((uintptr_t)2) /* the cache is retired: push elsewhere */
#define DKM_INBOX_TAGS ((uintptr_t)15)

struct dkm_tcache;

/* Intrusive circular list; a head is a node linked to itself when empty. */
struct dkm_dlist {
	struct dkm_dlist *prev; /* previous node, or the head */
	struct dkm_dlist *next; /* next node, or the head */
};

/*
 * A free block. Only the first 16 bytes are ours, and only while it is free:
 * next links it into exactly one list (a slab's free list, or one inbox),
 * key is dkm_heap_secret ^ its address. A block handed out has key 0 (it is
 * cleared on allocation), so a key that matches on free means "probably free
 * already", to be confirmed by finding the block on a list.
 */
struct dkm_block {
	struct dkm_block *next; /* next free block on the same list, or NULL */
	uint64_t key;           /* dkm_heap_secret ^ (uintptr_t)this while free */
};

/* Where a slab is listed (dkm_slab.where). */
enum dkm_slab_where {
	DKM_SLAB_NONE,      /* on no list: its owner's cur[cls], or abandoned without room */
	DKM_SLAB_PARTIAL,   /* owner's tc->partial[cls]: owned, not cur, has free blocks */
	DKM_SLAB_FULL,      /* owner's tc->full[cls]: owned, not cur, no free block */
	DKM_SLAB_ABANDONED, /* pool->abandoned[cls]: no owner, has room */
};

/*
 * A slab: blocks [0, capacity) of bsize bytes from start, which is its
 * first slot (past the header in slot 0) plus the class' color (a different
 * page offset per class, see heap-class.c). Blocks
 * [0, carved) have been carved: each is either handed out, on this slab's
 * free list, or on the inbox of some cache (pushed by a thread that freed it
 * remotely). Counting:
 *   used == handed out + in inboxes          (inbox blocks are drained later)
 *   length(free) == carved - used
 *   carved <= capacity; used == 0 with no owner => slab released.
 * Ownership: owner is the cache (and thread, the thread of that cache) whose
 * thread alone touches free, used, carved, slow_used, where and link, without
 * locks; other threads only push freed blocks onto owner->inbox. With owner
 * NULL (abandoned, after the owning thread flushed) those fields belong to
 * the pool and change only under pool->lock. owner and thread are set at
 * creation and, under pool->lock, on adopting and abandoning; other threads
 * read them without lock: thread only to compare with their own (which no
 * one else sets), owner to find the inbox (a stale owner is a retired or
 * recycled cache, which refuses the block or passes it on). bsize, recip,
 * start, cls and nslots do not change while the slab exists. slow_used
 * follows where, for the owner's free fast path: NONE (cur) 0xffff, never;
 * PARTIAL 0, emptied; FULL capacity - 1, no longer full. used is kept as
 * used_rel = used - slow_used (modulo 2^16, see dkm_slab_used()), so that the
 * fast paths count with one add and the free fast path's test is "used_rel
 * reaches 0". A slab holds at most 4096 blocks (16-byte class, one slot).
 */
struct dkm_slab {
	struct dkm_block *free;             /* free list (owner's, or the pool's when abandoned) */
	struct dkm_thread *thread;          /* owner's thread (the fast owner test), or NULL */
	uint16_t used_rel;                  /* used - slow_used: used, the blocks out of the free list */
	uint16_t carved;                    /* blocks [0, carved) have been carved */
	uint16_t slow_used;                 /* owner: a local free leaving used at this goes slow */
	uint8_t cls;                        /* size class index */
	uint8_t where;                      /* enum dkm_slab_where */
	uint32_t bsize;                     /* block size: the class size */
	uint32_t recip;                     /* ceil(2^32 / bsize): exact quotient for multiples */
	uint32_t start;                     /* offset of block 0 in the segment */
	uint8_t nslots;                     /* slots covered: 1, 2, 4 ... 32 */
	uint8_t unused[3];                  /* padding */
	_Atomic(struct dkm_tcache *) owner; /* owning cache, NULL when abandoned */
	struct dkm_dlist link;              /* on the list named by where */
};
#define DKM_SLOW_NEVER 0xffffu /* dkm_slab.slow_used of a cur slab */

/*
 * The free fast path's view of a slot, read straight from the pointer's slot
 * (one cache line, no other load before the slab descriptor). For a slot of
 * a slab: the low 32 bits of the address of its block 0 (start), and its
 * bsize as inv, the inverse modulo 2^32 of the odd part of bsize, and shift,
 * the power of two of the rest; then for an address a in the slot and
 * off = (uint32_t)a - start (the offset from block 0, modulo 2^32),
 *   ror32(off * inv, shift)
 * is off / bsize when a is a block start, and at least 2^(32 - shift)
 * otherwise (more blocks than a slab holds): a block start iff it is below
 * the slab's carved. slab is the offset of the slab's descriptor from the
 * segment. For a free slot: start, inv and shift 0 (index 0), and slab the
 * slot's own descriptor (zeroed, carved 0): nothing there is a block.
 */
struct dkm_slot_geo {
	uint32_t start;  /* (uint32_t)(segment + dkm_slab.start) of its slab, 0 if free */
	uint32_t inv;    /* inverse of the odd part of its bsize, 0 if free */
	uint16_t slab;   /* offset of its descriptor (the slot's own if free) */
	uint8_t shift;   /* bsize == odd part << shift, 0 if free */
	uint8_t unused[5]; /* padding */
};

enum dkm_seg_kind {
	DKM_SEG_SLABS = 1, /* a 4 MiB segment of slabs */
	DKM_SEG_LARGE = 2, /* a span holding one large block */
};

#define DKM_SEG_MAGIC 0x6b6d5347u
#define DKM_LARGE_LIVE 1 /* dkm_segment.state of a large span whose block is out */
#define DKM_LARGE_FREED 2

/*
 * The header at the start of a segment or large span. Registered in the radix
 * map (and a slab segment in the fast map) while live: after the header is
 * written, before memory is handed out; removed before the memory is
 * retained or unmapped. Counting, for a slab segment: free_slots has bit s
 * set iff slot s is free, and then slot_map[s] == s, slabs[s] is all zero
 * and geo[s] that of a free slot (the free fast path finds no block there);
 * otherwise geo[s] mirrors the geometry of the slab covering s; nslabs == number of slots s
 * not free with slot_map[s] == s (first slots of slabs); it is on
 * pool->avail iff free_slots != 0; when free_slots covers all 64 slots it
 * leaves the pool (retained or unmapped). Everything below slot_map changes
 * only under pool->lock (slab descriptors follow the rules of dkm_slab).
 */
struct dkm_segment {
	uint8_t slot_map[DKM_SLOTS];  /* slot -> its slab's first slot; itself if free; large: 0xff */
	struct dkm_pool *pool;        /* owning pool */
	uint16_t pool_id;             /* pool->id, to find the thread's cache */
	uint8_t kind;                 /* enum dkm_seg_kind */
	uint8_t in_avail;             /* on pool->avail */
	uint32_t magic;               /* DKM_SEG_MAGIC */
	size_t span_size;             /* bytes mapped from the source */
	void *token;                  /* the source's token for unmap */
	char *block;                  /* large: the block */
	size_t usable;                /* large: its usable size (to the end of the span) */
	_Atomic int state;            /* large: DKM_LARGE_LIVE or DKM_LARGE_FREED */
	uint64_t free_slots;          /* slabs: bit s set when slot s is free */
	unsigned nslabs;              /* slabs: slabs in the segment */
	struct dkm_dlist link;        /* pool->segs, pool->large, pool->retained, or an unmap list */
	struct dkm_dlist alink;       /* pool->avail */
	struct dkm_slot_geo geo[DKM_SLOTS]; /* by slot (slab segments) */
	struct dkm_slab slabs[DKM_SLOTS] __attribute__((aligned(64))); /* by first slot (slab segments) */
};

/*
 * A thread's cache for one pool. The owning thread alone reads and writes
 * everything above inbox, without locks (cur[] on its fast paths); the
 * pool's lock is taken to attach, detach, adopt and release slabs. Every
 * slab it owns (slab->owner == this, slab->thread == thread) is exactly one
 * of: cur[cls] (where NONE), on partial[cls], on full[cls]. inbox is an
 * atomic stack of blocks freed by other threads into slabs this cache owns
 * (or owned: a pusher may have read a stale owner, so draining checks).
 * Pushes are CAS at the head by any thread, the owner takes the whole list
 * with one CAS, so there is no ABA; while DKM_INBOX_SCAN is set (a thread
 * looking for a block on it) the list may grow but not be taken;
 * DKM_INBOX_DEAD refuses pushes (retired cache). Caches are never unmapped,
 * only recycled, so a stale pointer to one stays harmless.
 */
struct dkm_tcache {
	uint64_t uid;                              /* uid of the pool served (checks only); 0: none */
	struct dkm_slab *cur[DKM_NCLASSES];        /* slab malloc pops from, or &empty_slab */
	struct dkm_pool *pool;                     /* the pool served */
	struct dkm_thread *thread;                 /* the thread it belongs to */
	struct dkm_dlist partial[DKM_NCLASSES];    /* owned slabs with free blocks, not cur */
	struct dkm_dlist full[DKM_NCLASSES];       /* owned slabs without, not cur */
	struct dkm_dlist plink;                    /* on pool->tcaches (under pool->lock) */
	struct dkm_tcache *recycle;                /* next on the recycled list */
	_Atomic uintptr_t inbox __attribute__((aligned(64))); /* remote frees | DKM_INBOX_* */
};

/*
 * A thread's caches, indexed by pool id: tc[id] is &empty_tcache or a cache
 * serving the live pool of that id (dkm_pool_destroy resets the entries of
 * every thread, under registry_lock, so the malloc fast path needs no check).
 * Only its thread writes tc[] otherwise. Recycled after dkm_heap_thread_flush.
 */
struct dkm_thread {
	struct dkm_tcache *tc[DKM_HEAP_NO_POOL + 1]; /* cache per pool id, or &empty_tcache */
	struct dkm_dlist link;                     /* on the live threads (under registry_lock) */
	struct dkm_thread *recycle;                /* next on the recycled list */
};

/*
 * A pool. id, uid, inherited and the source are set at creation (inherited
 * again by dkm_heap_fork_child) and read without lock; everything else is
 * under lock. Counting: nsegments == length(segs) + length(large) +
 * length(retained); mapped_bytes is the sum of their span_size;
 * retained_bytes that of retained, and stays <= retain_bytes.
 */
struct dkm_pool {
	uint64_t uid;                 /* unique over the process' life, never 0 */
	uint16_t id;                  /* index in the registry and in dkm_thread.tc */
	bool inherited;               /* set in a forked child: no allocation, free does nothing */
	unsigned tag;                 /* the caller's tag */
	struct dkm_heap_source src;   /* where segments come from */
	size_t retain_bytes;          /* empty memory kept for reuse, at most */
	pthread_mutex_t lock __attribute__((aligned(64))); /* the slow paths */
	struct dkm_dlist segs;        /* slab segments */
	struct dkm_dlist avail;       /* slab segments with a free slot */
	struct dkm_dlist large;       /* live large spans */
	struct dkm_dlist retained;    /* empty memory kept, newest first */
	struct dkm_dlist abandoned[DKM_NCLASSES]; /* ownerless slabs with room */
	struct dkm_dlist tcaches;     /* caches attached to the pool */
	size_t nsegments;             /* segments and spans mapped now */
	size_t mapped_bytes;          /* their bytes */
	size_t retained_bytes;        /* bytes on retained */
	size_t large_blocks;          /* large blocks out */
	size_t large_bytes;           /* their usable bytes */
};

/* For the unit test: full consistency walk of a pool (quiescent pools only);
 * the number of problems found, each reported on stderr. */
int dkm_heap_check_pool(struct dkm_pool *p);
/* For the unit test: the debug level the core was built with. */
int dkm_heap_debug_level(void);

#endif
