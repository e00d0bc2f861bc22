/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libdaxkmem-client and the memory the daemon takes back: a mapping left in
 * place after daxkmem_region_release faults (revocation), a forked child
 * faults on what its parent gave back (daxkmem(3), NOTES), and fork while
 * other threads are inside the allocator leaves a child that can allocate.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client-util.h"

static long page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

/*
 * The program maps a region's descriptor a second time and releases the
 * region: the daemon revokes the memory, and the mapping still in place
 * faults with SIGBUS, reading or writing (daxkmem(3): "the daemon then
 * revokes the memory").
 */
START_TEST(test_release_revokes_mapping)
{
	struct daemon d;
	size_t size = 4 * (size_t)page_size();
	daxkmem_region_t *r;
	unsigned char *m, c = 0;

	start(&d, NULL);
	r = daxkmem_region_get(DAXKMEM_KIND_KMEM, size, 1);
	ck_assert_ptr_nonnull(r);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, daxkmem_region_fd(r), 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(daxkmem_region_addr(r), 0x5a, size);
	/* the same memory through both mappings */
	ck_assert(!touch_sigbus(m + size - 1, true, 0x11, &c));
	ck_assert_uint_eq(c, 0x5a);
	ck_assert_uint_eq(((unsigned char *)daxkmem_region_addr(r))[size - 1], 0x11);
	ck_assert_uint_eq(status_granted(&d, 0), size);
	daxkmem_region_release(r);
	ck_assert_uint_eq(status_granted(&d, 0), 0);
	for (size_t off = 0; off < size; off += (size_t)page_size()) {
		ck_assert_msg(touch_sigbus(m + off, false, 0, NULL), "read at +%zu: no SIGBUS", off);
		ck_assert_msg(touch_sigbus(m + off, true, 1, NULL), "write at +%zu: no SIGBUS", off);
	}
	ck_assert_int_eq(munmap(m, size), 0);
	daemon_stop(&d);
}
END_TEST

#define BIG (8u << 20)

struct inherit {
	unsigned char *region; /* 3 pages, of daxkmem_region_get */
	unsigned char *big;    /* a large block: a region of the heap of its own */
	int ready[2], go[2];   /* child -> parent, parent -> child */
	int res[2];            /* child_exit's */
};

/* Child: 0, or bits naming the checks that failed (1, 2, 4, 8 before the release, 16, 32 after). */
static int child_after_release(void *arg)
{
	struct inherit *in = arg;
	size_t pg = (size_t)page_size();
	unsigned char c = 0;
	int bad = 0;
	char x;

	/* page 0 of each written here (a private copy), the others only read */
	bad |= touch_sigbus(in->region, true, 'C', &c) || c != 'P' ? 1 : 0;
	bad |= touch_sigbus(in->region + pg, false, 0, &c) || c != 'P' ? 2 : 0;
	bad |= touch_sigbus(in->big, true, 'C', &c) || c != 'Q' ? 4 : 0;
	bad |= touch_sigbus(in->big + BIG - 1, false, 0, &c) || c != 'Q' ? 8 : 0;
	if (write(in->ready[1], "r", 1) != 1 || read(in->go[0], &x, 1) != 1)
		return 64;
	/*
	 * The parent gave both back: every page faults, those the child wrote
	 * too (the daemon truncates the memory file, and truncation takes
	 * private copies of the pages past the new end with it).
	 */
	bad |= !touch_sigbus(in->region, false, 0, NULL) ? 16 : 0;
	bad |= !touch_sigbus(in->region + pg, false, 0, NULL) ? 32 : 0;
	bad |= !touch_sigbus(in->region + 2 * pg, true, 1, NULL) ? 32 : 0;
	bad |= !touch_sigbus(in->big, false, 0, NULL) ? 16 : 0;
	bad |= !touch_sigbus(in->big + BIG - 1, false, 0, NULL) ? 32 : 0;
	bad |= !touch_sigbus(in->big + BIG / 2, true, 1, NULL) ? 32 : 0;
	return bad;
}

/*
 * daxkmem(3), NOTES: a forked child's view of the memory it inherited is a
 * private copy (the parent does not see its writes); once the parent
 * releases that memory, the child's access to it faults with SIGBUS, to
 * pages it wrote as well as to the others. Both for a region and for a
 * block of the heap (a large block, whose region goes back with it under
 * DAXKMEM_RETAIN=0).
 */
START_TEST(test_fork_child_sigbus_after_parent_release)
{
	struct daemon d;
	struct inherit in;
	size_t pg = (size_t)page_size();
	daxkmem_region_t *r;
	int status = 0;
	pid_t child;
	char x;

	start(&d, NULL);
	r = daxkmem_region_get(DAXKMEM_KIND_KMEM, 3 * pg, 1);
	ck_assert_ptr_nonnull(r);
	in.region = daxkmem_region_addr(r);
	memset(in.region, 'P', 3 * pg);
	in.big = daxkmem_malloc(DAXKMEM_KIND_KMEM_ALL, BIG);
	ck_assert_ptr_nonnull(in.big);
	memset(in.big, 'Q', BIG);
	ck_assert_int_eq(pipe(in.ready), 0);
	ck_assert_int_eq(pipe(in.go), 0);
	ck_assert_int_eq(pipe(in.res), 0);
	fflush(NULL);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		child_exit(child_after_release(&in), in.res[1]);
	close(in.res[1]);
	ck_assert_int_eq(read(in.ready[0], &x, 1), 1);
	/* the child's writes are its own */
	ck_assert_uint_eq(in.region[0], 'P');
	ck_assert_uint_eq(in.big[0], 'Q');
	daxkmem_region_release(r);
	daxkmem_free(DAXKMEM_KIND_DETECT, in.big);
	/* both went back (and were revoked) before the calls returned */
	ck_assert_uint_eq(status_granted(&d, -1), 0);
	ck_assert_int_eq(write(in.go[1], "g", 1), 1);
	status = child_wait(child, in.res[0], 20000);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %s",
		      status_str(status));
	daemon_stop(&d);
}
END_TEST

/* ---- fork while other threads are inside the allocator ---- */

static const daxkmem_kind_t kinds[] = { DAXKMEM_KIND_KMEM, DAXKMEM_KIND_KMEM_ALL,
					DAXKMEM_KIND_KMEM_PREFERRED };

/* Small, medium and large blocks of every kind, written and freed; 0 if all went well. */
static int alloc_spread(unsigned seed)
{
	static const size_t sizes[] = { 16, 100, 1000, 5000, 40000, 300 << 10, 1 << 20, 5 << 20 };
	void *p[3][sizeof(sizes) / sizeof(sizes[0])];
	int bad = 0;

	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			p[k][i] = daxkmem_malloc(kinds[(k + seed) % 3], sizes[i]);
			if (p[k][i])
				memset(p[k][i], (int)(i + k), sizes[i] < 4096 ? sizes[i] : 4096);
			else
				bad = 1;
		}
	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			if (p[k][i]) {
				if (*(unsigned char *)p[k][i] != (unsigned char)(i + k))
					bad = 1;
				daxkmem_free(DAXKMEM_KIND_DETECT, p[k][i]);
			}
	return bad;
}

#define NBLOCKS 60000

/*
 * A thread that allocates many small blocks, has another thread free them
 * all (onto its inbox), and exits: its exit drains the inbox and gives its
 * slabs back with the allocator's registry lock held, for a while. Just
 * before it returns it raises exiting, for the forking thread.
 */
struct churn {
	atomic_bool stop;
	atomic_bool exiting;  /* a thread is about to exit (and flush its caches) */
	atomic_int step;      /* 1: blocks allocated; 2: the spawner freed them */
	atomic_uint failures;
	atomic_ulong rounds;
	void **blocks;
};

static void *short_lived(void *arg)
{
	struct churn *c = arg;

	if (alloc_spread((unsigned)atomic_load(&c->rounds)))
		atomic_fetch_add(&c->failures, 1);
	for (unsigned i = 0; i < NBLOCKS; i++) {
		c->blocks[i] = daxkmem_malloc(kinds[i % 3], 16 + i % 200);
		if (!c->blocks[i])
			atomic_fetch_add(&c->failures, 1);
	}
	atomic_store(&c->step, 1);
	while (atomic_load(&c->step) != 2)
		sched_yield();
	atomic_store(&c->exiting, true);
	return NULL;
}

/* Threads that come and go: each a round of short_lived, its blocks freed from here. */
static void *spawner(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop)) {
		pthread_t th;

		atomic_store(&c->step, 0);
		if (pthread_create(&th, NULL, short_lived, c) != 0) {
			atomic_fetch_add(&c->failures, 1);
			break;
		}
		while (atomic_load(&c->step) != 1)
			sched_yield();
		for (unsigned i = 0; i < NBLOCKS; i++)
			daxkmem_free(DAXKMEM_KIND_DETECT, c->blocks[i]);
		atomic_store(&c->step, 2);
		pthread_join(th, NULL);
		atomic_fetch_add(&c->rounds, 1);
	}
	return NULL;
}

/* Regions got and given back: the session's lock held across each request to the daemon. */
static void *region_churner(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop)) {
		daxkmem_region_t *r = daxkmem_region_get(DAXKMEM_KIND_KMEM, 64 << 10, 0);

		if (!r) {
			atomic_fetch_add(&c->failures, 1);
			break;
		}
		daxkmem_region_release(r);
	}
	return NULL;
}

static int child_allocates(void *arg)
{
	(void)arg;
	/* twice: the first builds the child's session and pools, the second reuses them */
	return alloc_spread(0) | alloc_spread(1) << 1;
}

/*
 * fork(2) while other threads are inside the library (one exiting, its
 * caches being flushed under the allocator's locks; one asking the daemon
 * for regions under the session's lock): every child can allocate and free
 * at once. A lock held by a thread that does not exist in the child
 * would hang it: each child has a few seconds.
 */
START_TEST(test_fork_while_allocating)
{
	struct daemon d;
	struct churn c = { 0 };
	pthread_t th[2];
	char out[4096];
	unsigned forks = getenv("DKM_TEST_WRAPPER") ? 5 : 20;

	c.blocks = calloc(NBLOCKS, sizeof(void *));
	start(&d, NULL);
	/* populating every region would make the rounds slow: pages fault in instead */
	setenv("DAXKMEM_PREFAULT", "0", 1);
	/* empty segments are kept: threads exit without a word to the daemon */
	setenv("DAXKMEM_RETAIN", "1073741824", 1);
	ck_assert_int_eq(pthread_create(&th[0], NULL, spawner, &c), 0);
	ck_assert_int_eq(pthread_create(&th[1], NULL, region_churner, &c), 0);
	for (unsigned i = 0; i < forks; i++) {
		int status;

		/* fork as a thread starts to exit */
		while (!atomic_exchange(&c.exiting, false))
			;
		status = run_child(child_allocates, NULL, out, sizeof(out), 5000);
		ck_assert_msg(status == 0, "fork %u (round %lu): child %s: %s", i,
			      atomic_load(&c.rounds), status_str(status), out);
	}
	atomic_store(&c.stop, true);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	ck_assert_uint_eq(atomic_load(&c.failures), 0);
	free(c.blocks);
	daemon_stop(&d);
}
END_TEST

static Suite *fork_suite(void)
{
	Suite *s = suite_create("client-fork-e2e");
	TCase *tc = tcase_create("revocation");

	tcase_timeout(tc, 120);
	tcase_add_test(tc, test_release_revokes_mapping);
	tcase_add_test(tc, test_fork_child_sigbus_after_parent_release);
	tcase_add_test(tc, test_fork_while_allocating);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(fork_suite)
