/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The allocator core against glibc malloc in the same run: ns per operation
 * (median of 5 runs) and the ratio glibc / daxkmem (above 1: we are faster).
 *   pairs     malloc then free, sizes 16..1024
 *   working   4096 live blocks, a random one replaced at each step, 16..1024
 *   prodcons  one thread allocates, another frees (SPSC ring), 16..1024; the
 *             two threads pinned to CPUs 0 and 1
 * Usage: bench-heap [iterations-per-run [bench-name]] (default 4,000,000, all)
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "heap.h"

#define RUNS 5
#define NSIZES 4096 /* precomputed random sizes (power of two) */
#define WSET 4096
#define RING 1024

static size_t sizes[NSIZES];
static unsigned nidx[1 << 16]; /* precomputed random indexes into the working set */
static struct dkm_pool *pool;

static void *src_map(void *ctx, size_t size, void **token)
{
	size_t seg = DKM_SEGMENT_SIZE, total = size + seg;
	uintptr_t m = (uintptr_t)mmap(NULL, total, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), a;

	if ((void *)m == MAP_FAILED)
		return NULL;
	a = (m + seg - 1) & ~(seg - 1);
	if (a > m)
		munmap((void *)m, a - m);
	if (m + total > a + size)
		munmap((void *)(a + size), m + total - (a + size));
	*token = NULL;
	return (void *)a;
}

static void src_unmap(void *ctx, void *addr, size_t size, void *token)
{
	munmap(addr, size);
}

/* The two allocators behind one interface; the calls are direct, not through pointers. */
#define DKM 0
#define LIBC 1

static inline __attribute__((always_inline)) void *xmalloc(int which, size_t n)
{
	return which == DKM ? dkm_pool_malloc(pool, n) : malloc(n);
}

static inline __attribute__((always_inline)) void xfree(int which, void *p)
{
	if (which == DKM)
		dkm_block_free(p);
	else
		free(p);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double __attribute__((noinline)) run_pairs(int which, unsigned long iters)
{
	double t0 = now();

	for (unsigned long i = 0; i < iters; i++) {
		void *p = xmalloc(which, sizes[i & (NSIZES - 1)]);

		*(volatile char *)p = 1;
		xfree(which, p);
	}
	return (now() - t0) / (double)iters;
}

static double __attribute__((noinline)) run_working(int which, unsigned long iters)
{
	static void *ws[WSET];
	double t0, t;

	for (unsigned i = 0; i < WSET; i++)
		ws[i] = xmalloc(which, sizes[i & (NSIZES - 1)]);
	t0 = now();
	for (unsigned long i = 0; i < iters; i++) {
		unsigned k = nidx[i & ((1u << 16) - 1)];

		xfree(which, ws[k]);
		ws[k] = xmalloc(which, sizes[(i * 7) & (NSIZES - 1)]);
		*(volatile char *)ws[k] = 1;
	}
	t = (now() - t0) / (double)iters;
	for (unsigned i = 0; i < WSET; i++)
		xfree(which, ws[i]);
	return t;
}

struct ring {
	_Atomic unsigned long head __attribute__((aligned(64))); /* written by the consumer */
	_Atomic unsigned long tail __attribute__((aligned(64))); /* written by the producer */
	void *slot[RING] __attribute__((aligned(64)));
	unsigned long iters;
	int which;
};

/* Spin, then let the other thread run (there may be fewer CPUs than threads). */
static void backoff(unsigned *spins)
{
	if (++*spins > 4096) {
		sched_yield();
		*spins = 0;
	}
}

/* Pin the calling thread to CPU cpu when there are two CPUs or more. */
static void pin(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *consumer(void *arg)
{
	struct ring *r = arg;
	unsigned long h = 0;
	unsigned spins = 0;

	pin(1);
	while (h < r->iters) {
		unsigned long t = atomic_load_explicit(&r->tail, memory_order_acquire);

		if (t == h)
			backoff(&spins);
		for (; h < t; h++)
			xfree(r->which, r->slot[h % RING]);
		atomic_store_explicit(&r->head, h, memory_order_release);
	}
	if (r->which == DKM)
		dkm_heap_thread_flush();
	return NULL;
}

static double __attribute__((noinline)) run_prodcons(int which, unsigned long iters)
{
	static struct ring r;
	unsigned spins = 0;
	pthread_t th;
	double t0;

	atomic_store(&r.head, 0);
	atomic_store(&r.tail, 0);
	r.iters = iters;
	r.which = which;
	pin(0);
	t0 = now();
	pthread_create(&th, NULL, consumer, &r);
	for (unsigned long i = 0; i < iters; i++) {
		void *p = xmalloc(which, sizes[i & (NSIZES - 1)]);

		*(volatile char *)p = 1;
		while (i - atomic_load_explicit(&r.head, memory_order_acquire) >= RING)
			backoff(&spins);
		r.slot[i % RING] = p;
		atomic_store_explicit(&r.tail, i + 1, memory_order_release);
	}
	pthread_join(th, NULL);
	return (now() - t0) / (double)iters;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof(v[0]), cmp_double);
	return v[RUNS / 2];
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		double (*fn)(int, unsigned long);
		unsigned long div;
	} benches[] = {
		{ "pairs", run_pairs, 1 },
		{ "working", run_working, 1 },
		{ "prodcons", run_prodcons, 4 },
	};
	struct dkm_heap_source src = { .map = src_map, .unmap = src_unmap };
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 4000000;
	uint64_t x = 88172645463325252ull;

	for (unsigned i = 0; i < NSIZES; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		sizes[i] = 16 + x % 1009;
	}
	for (unsigned i = 0; i < (1u << 16); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		nidx[i] = (unsigned)(x % WSET);
	}
	if (dkm_pool_new(&src, 0, 8 * DKM_SEGMENT_SIZE, &pool) < 0) {
		fprintf(stderr, "dkm_pool_new failed\n");
		return 1;
	}
	printf("%-10s %12s %12s %8s   (ns/op, median of %d runs of %lu)\n", "bench", "daxkmem",
	       "glibc", "ratio", RUNS, iters);
	for (size_t b = 0; b < sizeof(benches) / sizeof(benches[0]); b++) {
		unsigned long n = iters / benches[b].div;
		double d, g;

		if (argc > 2 && strcmp(argv[2], benches[b].name))
			continue;
		double dv[RUNS], gv[RUNS];

		/* warm both up once, then measure alternately: noise hits both alike */
		benches[b].fn(DKM, n / 4);
		benches[b].fn(LIBC, n / 4);
		for (int r = 0; r < RUNS; r++) {
			dv[r] = benches[b].fn(DKM, n);
			gv[r] = benches[b].fn(LIBC, n);
		}
		d = median(dv);
		g = median(gv);
		printf("%-10s %12.2f %12.2f %8.2f\n", benches[b].name, d, g, g / d);
	}
	dkm_heap_thread_flush();
	dkm_pool_destroy(pool);
	return 0;
}
