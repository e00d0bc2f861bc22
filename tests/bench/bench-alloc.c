/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-alloc: small-block allocation speed of one allocator, chosen at
 * compile time by one of
 *   -DALLOC_DAXKMEM   daxkmem_malloc/daxkmem_free(DAXKMEM_KIND_KMEM, ...)
 *   -DALLOC_MEMKIND   memkind_malloc/memkind_free(MEMKIND_DAX_KMEM, ...)
 *   -DALLOC_GLIBC     malloc/free of glibc
 *   -DALLOC_JEMALLOC  malloc/free, with -ljemalloc replacing them
 *   -DALLOC_MIMALLOC  mi_malloc/mi_free (-lmimalloc also replaces malloc)
 * so each allocator runs in a process of its own. Workloads, each after an
 * untimed warm-up pass (so that getting memory from the OS or from daxkmemd
 * is not in the figure), timed with CLOCK_MONOTONIC:
 *   pairs       allocate and free at once, sizes 16..1024 from a fixed
 *               pseudo-random table; op = one malloc+free pair
 *   workingset  4096 live blocks; each step frees a random one and allocates
 *               a random size 16..1024 in its place; op = one step
 *   prodcons    a producer thread allocates, a consumer thread frees what
 *               it gets through a lock-free SPSC ring (remote frees; the
 *               two threads are pinned to two different CPUs);
 *               op = one block allocated and freed
 *   threadsN    N = 1, 2, 4 threads each running pairs; op = one pair, and
 *               the figure is wall time / all threads' pairs (the inverse of
 *               the total throughput)
 * Every block's first byte is written. Output, one line per workload:
 *   RESULT alloc=NAME workload=WORKLOAD ns_per_op=X
 *
 *   bench-alloc-NAME [SCALE]    (SCALE multiplies the iteration counts, default 1)
 * BENCH_WORKLOADS (comma-separated names, e.g. "pairs,workingset") runs only
 * those (to profile one).
 * daxkmem needs DAXKMEM_SOCKET; memkind on a machine without a KMEM node
 * needs MEMKIND_DAX_KMEM_NODES (e.g. 0).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(ALLOC_DAXKMEM)
#include <daxkmem.h>
#define ALLOC_NAME "daxkmem"
#define ALLOC(n) daxkmem_malloc(DAXKMEM_KIND_KMEM, (n))
#define FREE(p) daxkmem_free(DAXKMEM_KIND_KMEM, (p))
#elif defined(ALLOC_MEMKIND)
#include <memkind.h>
#define ALLOC_NAME "memkind"
#define ALLOC(n) memkind_malloc(MEMKIND_DAX_KMEM, (n))
#define FREE(p) memkind_free(MEMKIND_DAX_KMEM, (p))
#elif defined(ALLOC_GLIBC)
#define ALLOC_NAME "glibc"
#define ALLOC(n) malloc(n)
#define FREE(p) free(p)
#elif defined(ALLOC_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define ALLOC_NAME "jemalloc"
#define ALLOC(n) malloc(n)
#define FREE(p) free(p)
#elif defined(ALLOC_MIMALLOC)
#include <mimalloc.h>
#define ALLOC_NAME "mimalloc"
#define ALLOC(n) mi_malloc(n)
#define FREE(p) mi_free(p)
#else
#error "define one of ALLOC_DAXKMEM, ALLOC_MEMKIND, ALLOC_GLIBC, ALLOC_JEMALLOC, ALLOC_MIMALLOC"
#endif

/*
 * Iteration counts at SCALE 1: a timed pass takes 0.15-0.35 s with glibc on
 * the development machine, but prodcons ~1 s (glibc's remote frees take its
 * arena lock: ~1 us each; other allocators are 10-40 times faster there).
 */
#define PAIRS_ITERS 48000000ull
#define WS_STEPS 16000000ull
#define PC_BLOCKS 1000000ull
#define THREADS_ITERS 48000000ull /* in all, shared among the threads */

#define SIZE_MIN 16
#define SIZE_MAX_ 1024
#define NSIZES 4096 /* power of two */
#define WS_LIVE 4096 /* power of two */
#define RING 1024    /* power of two */
#define CACHELINE 64

static uint16_t sizes[NSIZES];

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static unsigned rand_size(uint64_t r)
{
	return SIZE_MIN + (unsigned)(r % (SIZE_MAX_ - SIZE_MIN + 1));
}

static void *xalloc(size_t n)
{
	void *p = ALLOC(n);

	if (!p) {
		fprintf(stderr, "bench-alloc-%s: allocating %zu bytes: %s\n", ALLOC_NAME, n, strerror(errno));
		exit(1);
	}
	/* write the first byte, and let the compiler believe the block escapes */
	*(volatile unsigned char *)p = (unsigned char)n;
	__asm__ __volatile__("" : : "r"(p) : "memory");
	return p;
}

static void cpu_relax(unsigned *spins)
{
	if (++*spins < 256) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#else
		__asm__ __volatile__("" ::: "memory");
#endif
	} else {
		/* two noisy cores: let the other side run */
		*spins = 0;
		sched_yield();
	}
}

/* Is the workload selected (BENCH_WORKLOADS unset, or naming it)? */
static int selected(const char *name)
{
	const char *w = getenv("BENCH_WORKLOADS"), *p;
	size_t n = strlen(name);

	if (!w || !*w)
		return 1;
	for (p = w; (p = strstr(p, name)); p += n)
		if ((p == w || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return 1;
	return 0;
}

static void report(const char *workload, double ns, uint64_t ops)
{
	printf("RESULT alloc=%s workload=%s ns_per_op=%.2f\n", ALLOC_NAME, workload, ns / (double)ops);
	fflush(stdout);
}

/* ---- 1. pairs ---- */

static void pairs(uint64_t n, unsigned offset)
{
	for (uint64_t i = 0; i < n; i++)
		FREE(xalloc(sizes[(i + offset) & (NSIZES - 1)]));
}

/* ---- 2. working set ---- */

/* Returns the time of the steps (filling and emptying the set is not timed). */
static double workingset(uint64_t steps)
{
	static void *live[WS_LIVE];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	double t0, t;

	for (unsigned i = 0; i < WS_LIVE; i++)
		live[i] = xalloc(sizes[i]);
	t0 = now_ns();
	for (uint64_t i = 0; i < steps; i++) {
		uint64_t r = xorshift64(&seed);
		unsigned slot = (unsigned)(r & (WS_LIVE - 1));

		FREE(live[slot]);
		live[slot] = xalloc(rand_size(r >> 16));
	}
	t = now_ns() - t0;
	for (unsigned i = 0; i < WS_LIVE; i++)
		FREE(live[i]);
	return t;
}

/* ---- 3. producer/consumer ---- */

struct ring {
	_Alignas(CACHELINE) atomic_size_t head; /* written by the producer */
	_Alignas(CACHELINE) atomic_size_t tail; /* written by the consumer */
	_Alignas(CACHELINE) atomic_int go;
	uint64_t n;
	double end;
	_Alignas(CACHELINE) void *slot[RING];
};

static void *consumer(void *arg)
{
	struct ring *q = arg;
	size_t tail = 0, head = 0;
	unsigned spins = 0;

	while (!atomic_load_explicit(&q->go, memory_order_acquire))
		cpu_relax(&spins);
	for (uint64_t i = 0; i < q->n; i++) {
		void *p;

		while (tail == head) {
			head = atomic_load_explicit(&q->head, memory_order_acquire);
			if (tail == head)
				cpu_relax(&spins);
		}
		p = q->slot[tail & (RING - 1)];
		atomic_store_explicit(&q->tail, ++tail, memory_order_release);
		FREE(p);
	}
	q->end = now_ns();
	return NULL;
}

/* The first two CPUs this process may run on: 0, or -1 if it has only one. */
static int two_cpus(int cpu[2])
{
	cpu_set_t set;
	int k = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[k++] = c;
	return k == 2 ? 0 : -1;
}

/*
 * Returns the time from the start until the consumer freed the last block.
 * The producer and the consumer are pinned to two different CPUs, so that
 * the frees are remote across cores rather than time-sliced on one core
 * (which it would be whenever the scheduler chose so on a busy machine).
 */
static double prodcons(uint64_t n)
{
	static struct ring q;
	size_t head = 0, tail = 0;
	unsigned spins = 0;
	cpu_set_t saved, one;
	pthread_attr_t attr;
	int cpu[2], pinned;
	pthread_t th;
	double t0;
	int e;

	memset(&q, 0, sizeof(q));
	q.n = n;
	pthread_attr_init(&attr);
	pinned = two_cpus(cpu) == 0 && sched_getaffinity(0, sizeof(saved), &saved) == 0;
	if (pinned) {
		CPU_ZERO(&one);
		CPU_SET(cpu[1], &one);
		pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
		CPU_ZERO(&one);
		CPU_SET(cpu[0], &one);
		sched_setaffinity(0, sizeof(one), &one);
	}
	e = pthread_create(&th, &attr, consumer, &q);
	pthread_attr_destroy(&attr);
	if (e) {
		fprintf(stderr, "bench-alloc: pthread_create: %s\n", strerror(e));
		exit(1);
	}
	t0 = now_ns();
	atomic_store_explicit(&q.go, 1, memory_order_release);
	for (uint64_t i = 0; i < n; i++) {
		void *p = xalloc(sizes[i & (NSIZES - 1)]);

		while (head - tail == RING) {
			tail = atomic_load_explicit(&q.tail, memory_order_acquire);
			if (head - tail == RING)
				cpu_relax(&spins);
		}
		q.slot[head & (RING - 1)] = p;
		atomic_store_explicit(&q.head, ++head, memory_order_release);
	}
	pthread_join(th, NULL);
	if (pinned)
		sched_setaffinity(0, sizeof(saved), &saved);
	return q.end - t0;
}

/* ---- 4. threads running pairs ---- */

struct worker {
	pthread_t th;
	pthread_barrier_t *start;
	uint64_t n;
	unsigned id;
	double end;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pairs(w->n / 4 + 1, w->id * 977); /* warm-up: this thread's caches, its memory */
	pthread_barrier_wait(w->start);
	pairs(w->n, w->id * 977);
	w->end = now_ns();
	return NULL;
}

static double threads(unsigned nthreads, uint64_t total)
{
	struct worker w[4];
	pthread_barrier_t start;
	double t0, end = 0;

	pthread_barrier_init(&start, NULL, nthreads + 1);
	for (unsigned i = 0; i < nthreads; i++) {
		int e;

		w[i] = (struct worker){ .start = &start, .n = total / nthreads, .id = i };
		e = pthread_create(&w[i].th, NULL, worker_main, &w[i]);
		if (e) {
			fprintf(stderr, "bench-alloc: pthread_create: %s\n", strerror(e));
			exit(1);
		}
	}
	pthread_barrier_wait(&start);
	t0 = now_ns();
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].end > end)
			end = w[i].end;
	}
	pthread_barrier_destroy(&start);
	return end - t0;
}

static int check_allocator(void)
{
#if defined(ALLOC_DAXKMEM)
	int e = daxkmem_check_available(DAXKMEM_KIND_KMEM);

	if (e) {
		fprintf(stderr, "bench-alloc-daxkmem: DAXKMEM_KIND_KMEM not available: %s%s\n", strerror(e),
			getenv("DAXKMEM_SOCKET") ? "" : " (DAXKMEM_SOCKET is not set)");
		return -1;
	}
#elif defined(ALLOC_MEMKIND)
	int e = memkind_check_available(MEMKIND_DAX_KMEM);

	if (e) {
		char msg[MEMKIND_ERROR_MESSAGE_SIZE];

		memkind_error_message(e, msg, sizeof(msg));
		fprintf(stderr, "bench-alloc-memkind: MEMKIND_DAX_KMEM not available: %s%s\n", msg,
			getenv("MEMKIND_DAX_KMEM_NODES") ? "" : " (try MEMKIND_DAX_KMEM_NODES=0)");
		return -1;
	}
#elif defined(ALLOC_JEMALLOC)
	const char *v;
	size_t len = sizeof(v);

	/* make sure malloc is jemalloc's in this process */
	if (mallctl("version", &v, &len, NULL, 0) != 0 || malloc_usable_size(NULL) != 0) {
		fprintf(stderr, "bench-alloc-jemalloc: jemalloc is not the malloc of this process\n");
		return -1;
	}
#elif defined(ALLOC_MIMALLOC)
	if (mi_version() <= 0)
		return -1;
#endif
	return 0;
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	uint64_t seed = 0x2545f4914f6cdd1dull;
	static const unsigned nthreads[] = { 1, 2, 4 };
	uint64_t n;
	double t0, t;

	if (argc > 2 || !(scale > 0)) {
		fprintf(stderr, "usage: bench-alloc-%s [SCALE]\n", ALLOC_NAME);
		return 2;
	}
	if (check_allocator() < 0)
		return 1;
	for (unsigned i = 0; i < NSIZES; i++)
		sizes[i] = (uint16_t)rand_size(xorshift64(&seed) >> 16);

	n = (uint64_t)((double)PAIRS_ITERS * scale) + 1;
	if (selected("pairs")) {
		pairs(n / 4, 0);
		t0 = now_ns();
		pairs(n, 0);
		t = now_ns() - t0;
		report("pairs", t, n);
	}

	n = (uint64_t)((double)WS_STEPS * scale) + 1;
	if (selected("workingset")) {
		workingset(n / 4);
		report("workingset", workingset(n), n);
	}

	n = (uint64_t)((double)PC_BLOCKS * scale) + 1;
	if (selected("prodcons")) {
		prodcons(n / 4);
		report("prodcons", prodcons(n), n);
	}

	n = (uint64_t)((double)THREADS_ITERS * scale) + 1;
	for (unsigned i = 0; i < sizeof(nthreads) / sizeof(nthreads[0]); i++) {
		char name[24];
		uint64_t per = n / nthreads[i];

		snprintf(name, sizeof(name), "threads%u", nthreads[i]);
		if (!selected(name))
			continue;
		report(name, threads(nthreads[i], n), per * nthreads[i]);
	}
	return 0;
}
