/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * MEMKIND_REGULAR: "general purpose memory from the NUMA nodes containing
 * CPUs" (memkind(3)), i.e. never a KMEM (or other memory-only) node.
 *
 * The system allocator cannot be told where its pages go (a memory policy
 * applies to whole pages, and malloc mixes every caller's blocks on them), so
 * REGULAR has a small allocator of its own, over anonymous memory bound with
 * mbind(MPOL_BIND) to the nodes that have CPUs and memory and that the
 * process may use:
 *   small blocks (up to 32 KiB, alignment up to 16): size classes, each
 *     served from chunks of 1 MiB aligned to 1 MiB (a slab of one class,
 *     its header and a bitmap of the blocks handed out first), one lock per
 *     class; a chunk that becomes empty goes back to the system unless it is
 *     the class's last one with room;
 *   larger or more aligned blocks: a mapping each, a header page first,
 *     reserved in whole 1 MiB units.
 * A two-level table from the 1 MiB unit of an address to the chunk (or the
 * mapping whose block starts in it) tells REGULAR's pointers from everyone
 * else's without touching them: every unit it names is REGULAR's alone.
 */
#include <errno.h>
#include <numaif.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mk.h"
#include "util/bitmap.h"

#define UNIT_SHIFT 20
#define UNIT ((size_t)1 << UNIT_SHIFT)
#define ADDR_BITS 47            /* user addresses the kernel hands out without a hint */
#define L2_BITS 14
#define L1_SIZE (1u << (ADDR_BITS - UNIT_SHIFT - L2_BITS))
#define L2_SIZE (1u << L2_BITS)
#define SMALL_MAX 32768
#define SMALL_ALIGN 16
#define NCLASSES 40
#define MAX_NODES 4096          /* bits of the node masks given to the kernel */

#define MAGIC_SLAB 0x534c4752u  /* "RGLS" */
#define MAGIC_BIG 0x424c4752u   /* "RGLB" */

/*
 * The header of a slab chunk (at its start) or of a big block's mapping (its
 * first page). Slab invariants, under the class lock: nfree = nblocks -
 * (bits set in used); blocks at index >= bump were never handed out and are
 * not on free_list; the chunk is on its class's list of chunks with room
 * exactly when nfree > 0.
 */
struct chunk {
	uint32_t magic;          /* MAGIC_SLAB or MAGIC_BIG */
	uint32_t cls;            /* slab: size class */
	size_t span;             /* big: bytes reserved (whole units); slab: UNIT */
	size_t len;              /* big: bytes mapped read-write from the start */
	char *block;             /* big: the block */
	uint32_t size;           /* slab: block size */
	uint32_t first;          /* slab: offset of block 0 */
	uint32_t nblocks, nfree, bump;
	void *free_list;         /* slab: freed blocks, linked through their first word */
	struct chunk *prev, *next; /* slab: in the class's list of chunks with room */
	uint64_t used[];         /* slab: bit i: block i is handed out */
};

struct size_class {
	pthread_mutex_t lock;
	uint32_t size;
	struct chunk *room;      /* chunks with a free block */
	unsigned nroom;
};

static struct {
	pthread_once_t once;
	int err;                                 /* 0, or why REGULAR is not served */
	unsigned long nodes[MAX_NODES / (8 * sizeof(unsigned long))]; /* its mbind mask */
	long page;
	struct size_class classes[NCLASSES];
	pthread_mutex_t reg_lock;                /* creating leaves of the table */
	atomic_bool any;                         /* some chunk was registered once */
	_Atomic(struct chunk *_Atomic *) table[L1_SIZE];
} R = { .once = PTHREAD_ONCE_INIT, .reg_lock = PTHREAD_MUTEX_INITIALIZER };

/* ======================================================================
 * The unit table
 * ====================================================================== */

static struct chunk *unit_get(const void *p)
{
	uintptr_t u = (uintptr_t)p >> UNIT_SHIFT;
	struct chunk *_Atomic *leaf;

	if ((u >> L2_BITS) >= L1_SIZE)
		return NULL;
	leaf = atomic_load_explicit(&R.table[u >> L2_BITS], memory_order_acquire);
	if (!leaf)
		return NULL;
	return atomic_load_explicit(&leaf[u & (L2_SIZE - 1)], memory_order_acquire);
}

/* Name c as the owner of p's unit (NULL: nobody). 0 or -ENOMEM. */
static int unit_set(const void *p, struct chunk *c)
{
	uintptr_t u = (uintptr_t)p >> UNIT_SHIFT;
	struct chunk *_Atomic *leaf;

	if ((u >> L2_BITS) >= L1_SIZE)
		return -ENOMEM;
	leaf = atomic_load_explicit(&R.table[u >> L2_BITS], memory_order_acquire);
	if (!leaf) {
		pthread_mutex_lock(&R.reg_lock);
		leaf = atomic_load_explicit(&R.table[u >> L2_BITS], memory_order_acquire);
		if (!leaf) {
			void *m = mmap(NULL, L2_SIZE * sizeof(*leaf), PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (m == MAP_FAILED) {
				pthread_mutex_unlock(&R.reg_lock);
				return -ENOMEM;
			}
			leaf = m;
			atomic_store_explicit(&R.table[u >> L2_BITS], leaf, memory_order_release);
		}
		pthread_mutex_unlock(&R.reg_lock);
	}
	atomic_store_explicit(&leaf[u & (L2_SIZE - 1)], c, memory_order_release);
	if (c)
		atomic_store_explicit(&R.any, true, memory_order_release);
	return 0;
}

/* ======================================================================
 * Set-up: the nodes, the classes, fork
 * ====================================================================== */

/* A node list file of sysfs into b. 0 or -errno. */
static int read_node_list(const char *path, struct dkm_bitmap *b)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "re");
	int r;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	r = dkm_bitmap_parse_list(b, buf);
	return r;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&R.reg_lock);
	for (unsigned i = 0; i < NCLASSES; i++)
		pthread_mutex_lock(&R.classes[i].lock);
}

static void atfork_release(void)
{
	for (unsigned i = NCLASSES; i-- > 0;)
		pthread_mutex_unlock(&R.classes[i].lock);
	pthread_mutex_unlock(&R.reg_lock);
}

static void init(void)
{
	struct dkm_bitmap cpu = DKM_BITMAP_INIT, mem = DKM_BITMAP_INIT;
	unsigned long allowed[MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };
	uint32_t size = 0;
	int node, found = 0;

	R.page = sysconf(_SC_PAGESIZE);
	/* 16, 32 ... 128, then four classes per doubling up to SMALL_MAX */
	for (unsigned i = 0; i < NCLASSES; i++) {
		size += size < 128 ? 16 : (uint32_t)1 << (31 - __builtin_clz(size) - 2);
		pthread_mutex_init(&R.classes[i].lock, NULL);
		R.classes[i].size = size;
	}
	if (pthread_atfork(atfork_prepare, atfork_release, atfork_release) != 0) {
		R.err = MEMKIND_ERROR_RUNTIME;
		return;
	}
	if (read_node_list("/sys/devices/system/node/has_cpu", &cpu) < 0 ||
	    read_node_list("/sys/devices/system/node/has_memory", &mem) < 0 ||
	    get_mempolicy(NULL, allowed, MAX_NODES, NULL, MPOL_F_MEMS_ALLOWED) < 0) {
		R.err = MEMKIND_ERROR_UNAVAILABLE;
		dkm_mk_log("MEMKIND_REGULAR: cannot read the node map (%s): unavailable",
			   strerror(errno));
		goto out;
	}
	dkm_bitmap_foreach(node, &cpu) {
		unsigned w = (unsigned)node / (8 * sizeof(unsigned long));
		unsigned long bit = 1ul << ((unsigned)node % (8 * sizeof(unsigned long)));

		if (node >= MAX_NODES || !dkm_bitmap_test(&mem, (unsigned)node) || !(allowed[w] & bit))
			continue;
		R.nodes[w] |= bit;
		found++;
	}
	if (!found) {
		R.err = MEMKIND_ERROR_UNAVAILABLE;
		dkm_mk_log("MEMKIND_REGULAR: no node with CPUs and memory may be used: unavailable");
	}
out:
	dkm_bitmap_free(&cpu);
	dkm_bitmap_free(&mem);
}

int dkm_mk_regular_check(void)
{
	pthread_once(&R.once, init);
	return R.err;
}

/*
 * span bytes (whole units) aligned to align (a multiple of UNIT), the first
 * len of them mapped read-write and bound to REGULAR's nodes, the rest
 * reserved. NULL with errno.
 */
static void *map_bound(size_t span, size_t len, size_t align)
{
	char *res, *base;
	void *rw;
	size_t head, tail;

	if (span > SIZE_MAX - align) {
		errno = ENOMEM;
		return NULL;
	}
	res = mmap(NULL, span + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (res == MAP_FAILED)
		return NULL;
	base = (char *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1));
	head = (size_t)(base - res);
	tail = align - head;
	if (head)
		munmap(res, head);
	if (tail)
		munmap(base + span, tail);
	rw = mmap(base, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (rw == MAP_FAILED ||
	    mbind(base, len, MPOL_BIND, R.nodes, MAX_NODES, 0) < 0) {
		int err = errno;

		dkm_mk_log("MEMKIND_REGULAR: mapping %zu bytes bound to the nodes with CPUs: %s", len,
			   strerror(err));
		munmap(base, span);
		errno = ENOMEM;
		return NULL;
	}
	return base;
}

/* ======================================================================
 * Small blocks
 * ====================================================================== */

static unsigned class_of(size_t size)
{
	unsigned i = 0;

	while (R.classes[i].size < size)
		i++;
	return i;
}

static void room_add(struct size_class *sc, struct chunk *c)
{
	c->prev = NULL;
	c->next = sc->room;
	if (sc->room)
		sc->room->prev = c;
	sc->room = c;
	sc->nroom++;
}

static void room_remove(struct size_class *sc, struct chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		sc->room = c->next;
	if (c->next)
		c->next->prev = c->prev;
	sc->nroom--;
}

/* A new chunk for class i, on its room list. Under the class lock. */
static struct chunk *chunk_new(unsigned i)
{
	struct size_class *sc = &R.classes[i];
	size_t words = (UNIT / sc->size + 63) / 64;
	size_t first = (sizeof(struct chunk) + words * 8 + 63) & ~(size_t)63;
	struct chunk *c = map_bound(UNIT, UNIT, UNIT);

	if (!c)
		return NULL;
	c->magic = MAGIC_SLAB;
	c->cls = i;
	c->span = UNIT;
	c->len = UNIT;
	c->size = sc->size;
	c->first = (uint32_t)first;
	c->nblocks = (uint32_t)((UNIT - first) / sc->size);
	c->nfree = c->nblocks;
	if (unit_set(c, c) < 0) {
		munmap(c, UNIT);
		errno = ENOMEM;
		return NULL;
	}
	room_add(sc, c);
	return c;
}

static void *small_alloc(size_t size)
{
	struct size_class *sc = &R.classes[class_of(size)];
	struct chunk *c;
	void *p;
	size_t idx;

	pthread_mutex_lock(&sc->lock);
	c = sc->room ? sc->room : chunk_new((unsigned)(sc - R.classes));
	if (!c) {
		pthread_mutex_unlock(&sc->lock);
		return NULL;
	}
	if (c->free_list) {
		p = c->free_list;
		c->free_list = *(void **)p;
	} else {
		p = (char *)c + c->first + (size_t)c->bump * c->size;
		c->bump++;
	}
	idx = (size_t)((char *)p - (char *)c - c->first) / c->size;
	c->used[idx / 64] |= 1ull << (idx % 64);
	if (--c->nfree == 0)
		room_remove(sc, c);
	pthread_mutex_unlock(&sc->lock);
	return p;
}

static void small_free(struct chunk *c, void *p)
{
	struct size_class *sc = &R.classes[c->cls];
	size_t off = (size_t)((char *)p - (char *)c), idx;
	bool release = false;

	if (off < c->first || (off - c->first) % c->size) {
		fprintf(stderr, "libmemkind (daxkmem): memkind_free(%p): not a block of "
				"MEMKIND_REGULAR\n", p);
		return;
	}
	idx = (off - c->first) / c->size;
	pthread_mutex_lock(&sc->lock);
	if (idx >= c->bump || !(c->used[idx / 64] & (1ull << (idx % 64)))) {
		pthread_mutex_unlock(&sc->lock);
		fprintf(stderr, "libmemkind (daxkmem): memkind_free(%p): a MEMKIND_REGULAR block "
				"freed already\n", p);
		return;
	}
	c->used[idx / 64] &= ~(1ull << (idx % 64));
	*(void **)p = c->free_list;
	c->free_list = p;
	if (c->nfree++ == 0)
		room_add(sc, c);
	if (c->nfree == c->nblocks && sc->nroom > 1) {
		room_remove(sc, c);
		(void)unit_set(c, NULL);
		release = true;
	}
	pthread_mutex_unlock(&sc->lock);
	if (release)
		munmap(c, UNIT);
}

/* ======================================================================
 * Big blocks
 * ====================================================================== */

static void *big_alloc(size_t size, size_t align)
{
	size_t page = (size_t)R.page, off = align > page ? align : page, len, span;
	struct chunk *c;

	if (size > SIZE_MAX - off - page - UNIT) {
		errno = ENOMEM;
		return NULL;
	}
	len = (off + size + page - 1) & ~(page - 1);
	span = (len + UNIT - 1) & ~(UNIT - 1);
	c = map_bound(span, len, align > UNIT ? align : UNIT);
	if (!c)
		return NULL;
	c->magic = MAGIC_BIG;
	c->span = span;
	c->len = len;
	c->block = (char *)c + off;
	if (unit_set(c->block, c) < 0) {
		munmap(c, span);
		errno = ENOMEM;
		return NULL;
	}
	return c->block;
}

/* ======================================================================
 * The interface of mk.h
 * ====================================================================== */

void *dkm_mk_regular_alloc(size_t size, size_t align)
{
	if (dkm_mk_regular_check() != 0) {
		errno = ENOMEM;
		return NULL;
	}
	if (size <= SMALL_MAX && align <= SMALL_ALIGN)
		return small_alloc(size ? size : 1);
	return big_alloc(size, align);
}

bool dkm_mk_regular_owns(const void *ptr)
{
	return atomic_load_explicit(&R.any, memory_order_acquire) && ptr && unit_get(ptr);
}

void dkm_mk_regular_free(void *ptr)
{
	struct chunk *c = unit_get(ptr);

	if (!c)
		return;
	if (c->magic == MAGIC_SLAB) {
		small_free(c, ptr);
		return;
	}
	if (ptr != c->block) {
		fprintf(stderr, "libmemkind (daxkmem): memkind_free(%p): not a block of "
				"MEMKIND_REGULAR\n", ptr);
		return;
	}
	(void)unit_set(ptr, NULL);
	munmap(c, c->span);
}

size_t dkm_mk_regular_usable_size(const void *ptr)
{
	struct chunk *c = unit_get(ptr);

	if (!c)
		return 0;
	if (c->magic == MAGIC_SLAB)
		return c->size;
	return ptr == c->block ? (size_t)((char *)c + c->len - c->block) : 0;
}

ssize_t dkm_mk_regular_capacity(void)
{
	long long total = 0;

	if (dkm_mk_regular_check() != 0)
		return -1;
	for (unsigned n = 0; n < MAX_NODES; n++) {
		long long size;
		char path[80], line[256];
		FILE *f;

		if (!(R.nodes[n / (8 * sizeof(unsigned long))] &
		      (1ul << (n % (8 * sizeof(unsigned long))))))
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/meminfo", n);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Node %*u MemTotal: %lld kB", &size) == 1)
				total += size * 1024;
		fclose(f);
	}
	return total > 0 ? (ssize_t)total : -1;
}
