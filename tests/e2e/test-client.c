/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libdaxkmem-client against a real daemon, node 0 configured as the kmem node.
 * On a one-node host every page is on node 0 whatever the policy: these
 * tests check the policy the kernel has for the memory (get_mempolicy's
 * mode and nodes) and the daemon's accounting, not where pages land;
 * placement is the VM suites' (tests/vm).
 */
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client-util.h"

static const daxkmem_kind_t kinds[] = { DAXKMEM_KIND_KMEM, DAXKMEM_KIND_KMEM_ALL,
					DAXKMEM_KIND_KMEM_PREFERRED };

/* The policy the daemon sets for a kind, here where node 0 is the only kmem node. */
static void assert_policy(const void *p, daxkmem_kind_t kind)
{
	unsigned long mask;
	int mode = policy_of(p, &mask);

	ck_assert_msg(mode == (kind == DAXKMEM_KIND_KMEM_PREFERRED ? MPOL_PREFERRED : MPOL_BIND) &&
			      mask == 1,
		      "%s block %p: policy mode %d nodes 0x%lx", daxkmem_kind_name(kind), p, mode,
		      mask);
}

struct kinds_arg {
	void *(*blocks)[12];
	const size_t *sizes;
	unsigned nsizes;
	int failed;
	char err[128];
};

/* Allocate every size of every kind; runs in a thread that then exits (its caches go). */
static void *kinds_thread(void *arg)
{
	struct kinds_arg *a = arg;

	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = 0; i < a->nsizes; i++) {
			char *p = daxkmem_malloc(kinds[k], a->sizes[i]);

			if (!p) {
				snprintf(a->err, sizeof(a->err), "%s %zu: %s", daxkmem_kind_name(kinds[k]),
					 a->sizes[i], strerror(errno));
				a->failed++;
				continue;
			}
			memset(p, (int)i, a->sizes[i]);
			a->blocks[k][i] = p;
		}
	return NULL;
}

/*
 * Every size of every kind: usable, aligned, of its kind, and bound by the
 * policy of its kind (MPOL_BIND to node 0 for KMEM and KMEM_ALL,
 * MPOL_PREFERRED for KMEM_PREFERRED); the daemon accounts the regions on
 * node 0 and gets them all back.
 */
START_TEST(test_kinds_policy_and_accounting)
{
	static const size_t sizes[] = { 0, 1, 16, 24, 100, 512, 1000, 4096, 5000, 65536, 300000,
					8 << 20 };
	struct daemon d;
	void *blocks[3][sizeof(sizes) / sizeof(sizes[0])];

	start(&d, NULL);
	for (unsigned k = 0; k < 3; k++)
		ck_assert_int_eq(daxkmem_check_available(kinds[k]), 0);
	{
		struct kinds_arg a = { .blocks = blocks, .sizes = sizes,
				       .nsizes = sizeof(sizes) / sizeof(sizes[0]) };
		pthread_t th;

		ck_assert_int_eq(pthread_create(&th, NULL, kinds_thread, &a), 0);
		pthread_join(th, NULL);
		ck_assert_msg(a.failed == 0, "%s", a.err);
	}
	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char *p = blocks[k][i];

			ck_assert_uint_eq((uintptr_t)p % 16, 0);
			ck_assert_uint_ge(daxkmem_usable_size(DAXKMEM_KIND_DETECT, p), sizes[i]);
			ck_assert_int_eq(daxkmem_detect_kind(p), kinds[k]);
			assert_policy(p, kinds[k]);
			if (sizes[i])
				assert_policy(p + sizes[i] - 1, kinds[k]);
		}
	/* the daemon accounts the regions the library holds on node 0 */
	ck_assert_uint_gt(status_granted(&d, 0), 0);
	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned char *p = blocks[k][i];

			for (size_t j = 0; j < sizes[i]; j += 997)
				ck_assert_uint_eq(p[j], i);
			daxkmem_free(k % 2 ? DAXKMEM_KIND_DETECT : kinds[k], p);
		}
	/* the allocating thread is gone: with DAXKMEM_RETAIN=0 every empty segment goes back */
	ck_assert(wait_granted(&d, 0, 0, 5000));
	ck_assert_int_eq(daxkmem_detect_kind(&d), -1);
	ck_assert_int_eq(errno, EINVAL);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_calloc_realloc_memalign)
{
	struct daemon d;
	unsigned char *p, *q;
	void *a;

	start(&d, NULL);
	p = daxkmem_calloc(DAXKMEM_KIND_KMEM, 1000, 8);
	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < 8000; i++)
		ck_assert_uint_eq(p[i], 0);
	memset(p, 7, 8000);
	daxkmem_free(DAXKMEM_KIND_KMEM, p);
	/* a reused block is zeroed again */
	p = daxkmem_calloc(DAXKMEM_KIND_KMEM, 8000, 1);
	for (int i = 0; i < 8000; i++)
		ck_assert_uint_eq(p[i], 0);
	daxkmem_free(DAXKMEM_KIND_KMEM, p);
	errno = 0;
	ck_assert_ptr_null(daxkmem_calloc(DAXKMEM_KIND_KMEM, SIZE_MAX, 2));
	ck_assert_int_eq(errno, ENOMEM);

	p = daxkmem_malloc(DAXKMEM_KIND_KMEM, 24);
	for (int i = 0; i < 24; i++)
		p[i] = (unsigned char)i;
	for (size_t size = 48; size < (4u << 20); size *= 3) {
		q = daxkmem_realloc(DAXKMEM_KIND_DETECT, p, size);
		ck_assert_ptr_nonnull(q);
		for (int i = 0; i < 24; i++)
			ck_assert_uint_eq(q[i], i);
		p = q;
	}
	q = daxkmem_realloc(DAXKMEM_KIND_KMEM, p, 10);
	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq(q[i], i);
	/* realloc to another kind moves the block there */
	p = daxkmem_realloc(DAXKMEM_KIND_KMEM_PREFERRED, q, 10);
	ck_assert_int_eq(daxkmem_detect_kind(p), DAXKMEM_KIND_KMEM_PREFERRED);
	ck_assert_uint_eq(p[9], 9);
	ck_assert_ptr_null(daxkmem_realloc(DAXKMEM_KIND_DETECT, p, 0));
	errno = 0;
	ck_assert_ptr_null(daxkmem_realloc(DAXKMEM_KIND_DETECT, NULL, 10));
	ck_assert_int_eq(errno, EINVAL);

	for (size_t align = sizeof(void *); align <= (2u << 20); align *= 4) {
		ck_assert_int_eq(daxkmem_posix_memalign(DAXKMEM_KIND_KMEM_ALL, &a, align, 100), 0);
		ck_assert_uint_eq((uintptr_t)a % align, 0);
		ck_assert_int_eq(daxkmem_detect_kind(a), DAXKMEM_KIND_KMEM_ALL);
		daxkmem_free(DAXKMEM_KIND_DETECT, a);
	}
	ck_assert_int_eq(daxkmem_posix_memalign(DAXKMEM_KIND_KMEM, &a, 24, 100), EINVAL);
	ck_assert_int_eq(daxkmem_posix_memalign(DAXKMEM_KIND_KMEM, &a, 4, 100), EINVAL);
	ck_assert_ptr_null(daxkmem_malloc((daxkmem_kind_t)7, 10));
	ck_assert_int_eq(errno, EINVAL);
	daemon_stop(&d);
}
END_TEST

/* Byte i of a block written by fill_bytes: survives realloc's copy. */
static unsigned char pat_byte(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 9));
}

static void fill_bytes(unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		p[i] = pat_byte(i);
}

/*
 * realloc across the tiers (small classes, medium blocks of whole 64 KiB
 * slots up to 2 MiB, large spans), both ways: the contents move, usable
 * sizes stay within a slot of the request for medium blocks, and a block
 * that still fits stays where it is.
 */
START_TEST(test_realloc_tiers)
{
	static const size_t sizes[] = { 100, 200 << 10, 256 << 10, (256 << 10) + 1, 300 << 10,
					MIB, MIB - 1000, 2 * MIB, 2 * MIB + 1, 3 * MIB,
					700 << 10, 5000, 40, 1500 << 10, 16 };
	struct daemon d;
	unsigned char *p = NULL;
	size_t cur = 0;

	start(&d, NULL);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], u, keep = cur < n ? cur : n;
		unsigned char *q = daxkmem_realloc(i ? DAXKMEM_KIND_DETECT : DAXKMEM_KIND_KMEM, p, n);

		ck_assert_ptr_nonnull(q);
		for (size_t j = 0; j < keep; j += (j < 4096 ? 1 : 509))
			ck_assert_msg(q[j] == pat_byte(j), "realloc(%zu -> %zu): byte %zu", cur, n, j);
		if (keep)
			ck_assert_uint_eq(q[keep - 1], pat_byte(keep - 1));
		u = daxkmem_usable_size(DAXKMEM_KIND_DETECT, q);
		ck_assert_uint_ge(u, n);
		if (n > (256 << 10) && n <= 2 * MIB) {
			if (q != p) /* a block that still fits is kept: then its size is the old one */
				ck_assert_msg(u - n < (64 << 10), "realloc(%zu): usable %zu", n, u);
			ck_assert_uint_eq((uintptr_t)q % (64 << 10), 0);
		}
		if (n == MIB - 1000)
			ck_assert_ptr_eq(q, p); /* 1 MiB block, still fits */
		ck_assert_int_eq(daxkmem_detect_kind(q), DAXKMEM_KIND_KMEM);
		fill_bytes(q, 0, n);
		p = q;
		cur = n;
	}
	/* a medium block: 1 MiB costs 1 MiB (it took a 4 MiB span once) */
	{
		unsigned char *m = daxkmem_malloc(DAXKMEM_KIND_KMEM_ALL, MIB);

		ck_assert_ptr_nonnull(m);
		ck_assert_uint_eq(daxkmem_usable_size(DAXKMEM_KIND_DETECT, m), MIB);
		fill_bytes(m, 0, MIB);
		/* to another kind: moved, contents kept */
		m = daxkmem_realloc(DAXKMEM_KIND_KMEM_PREFERRED, m, MIB + 5);
		ck_assert_ptr_nonnull(m);
		ck_assert_int_eq(daxkmem_detect_kind(m), DAXKMEM_KIND_KMEM_PREFERRED);
		ck_assert_uint_eq(m[MIB - 1], pat_byte(MIB - 1));
		daxkmem_free(DAXKMEM_KIND_DETECT, m);
	}
	daxkmem_free(DAXKMEM_KIND_KMEM, p);
	daemon_stop(&d);
}
END_TEST

static void bad_frees(void *arg)
{
	int on_stack;
	void *p = daxkmem_malloc(DAXKMEM_KIND_KMEM, 64);

	(void)arg;
	daxkmem_free(DAXKMEM_KIND_KMEM, &on_stack);
	daxkmem_free(DAXKMEM_KIND_KMEM, p);
	daxkmem_free(DAXKMEM_KIND_KMEM, p);
	p = daxkmem_malloc(DAXKMEM_KIND_KMEM, 64);
	daxkmem_free(DAXKMEM_KIND_KMEM, (char *)p + 8);
	daxkmem_free(DAXKMEM_KIND_KMEM, p);
}

START_TEST(test_bad_free_reported)
{
	struct daemon d;
	char *out;
	void *a, *b;

	start(&d, NULL);
	out = capture_stderr(bad_frees, NULL);
	ck_assert_msg(strstr(out, "not a block allocated by libdaxkmem-client") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "double free") != NULL, "%s", out);
	/* the heap is intact: two allocations never share a block */
	a = daxkmem_malloc(DAXKMEM_KIND_KMEM, 64);
	b = daxkmem_malloc(DAXKMEM_KIND_KMEM, 64);
	ck_assert_ptr_ne(a, b);
	daxkmem_free(DAXKMEM_KIND_KMEM, a);
	daxkmem_free(DAXKMEM_KIND_KMEM, b);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_quota_and_max_region_size)
{
	struct daemon d;
	void *p[64];
	int n = 0;

	start(&d, "quota = 24M");
	/* 4 MiB segments and spans: the quota stops the fifth or so */
	for (; n < 64; n++) {
		p[n] = daxkmem_malloc(DAXKMEM_KIND_KMEM, 3 << 20);
		if (!p[n])
			break;
	}
	ck_assert_int_lt(n, 64);
	ck_assert_int_eq(errno, EDQUOT);
	for (int i = 0; i < n; i++)
		daxkmem_free(DAXKMEM_KIND_KMEM, p[i]);
	/* above max_region_size (the daemon says EFBIG, before the quota): ENOMEM */
	ck_assert_ptr_null(daxkmem_malloc(DAXKMEM_KIND_KMEM, (size_t)1 << 40));
	ck_assert_int_eq(errno, ENOMEM);
	daemon_stop(&d);
}
END_TEST

struct big_arg {
	daxkmem_kind_t kind;
	size_t size;
	void *p;
	int err;
};

static void malloc_big(void *arg)
{
	struct big_arg *a = arg;

	errno = 0;
	a->p = daxkmem_malloc(a->kind, a->size);
	a->err = errno;
}

static void region_big(void *arg)
{
	struct big_arg *a = arg;

	errno = 0;
	a->p = daxkmem_region_get(a->kind, a->size, 0);
	a->err = errno;
}

/*
 * More than the node has, within max_region_size: the daemon finds no room
 * (ENOSPC, its message says why) and the library says ENOMEM, as memkind
 * would. DAXKMEM_LOG=1 shows the daemon's reason, so the test knows it was
 * capacity and not another refusal.
 */
START_TEST(test_capacity_enomem)
{
	struct daemon d;
	long long total = numa_node_size64(0, NULL);
	size_t size;
	char conf[64];

	ck_assert_int_gt(total, 0);
	size = ((size_t)total + 1024 * MIB) & ~(size_t)(MIB - 1);
	snprintf(conf, sizeof(conf), "max_region_size = %zu", 4 * size);
	start(&d, conf);
	setenv("DAXKMEM_LOG", "1", 1);
	for (unsigned k = 0; k < 3; k++) {
		struct big_arg a = { .kind = kinds[k], .size = size };
		char *out = capture_stderr(malloc_big, &a);

		ck_assert_ptr_null(a.p);
		ck_assert_msg(a.err == ENOMEM, "%s: errno %d", daxkmem_kind_name(kinds[k]), a.err);
		/* KMEM: one node, "cannot take"; the others spread over their nodes, "no room" */
		ck_assert_msg(strstr(out, k == 0 ? "node 0 cannot take" : "no room for"), "%s", out);
	}
	{
		struct big_arg a = { .kind = DAXKMEM_KIND_KMEM, .size = size };
		char *out = capture_stderr(region_big, &a);

		ck_assert_ptr_null(a.p);
		ck_assert_int_eq(a.err, ENOMEM);
		ck_assert_msg(strstr(out, "node 0 cannot take"), "%s", out);
	}
	ck_assert_uint_eq(status_granted(&d, -1), 0);
	/* a request that fits still works */
	{
		void *p = daxkmem_malloc(DAXKMEM_KIND_KMEM, 8 * MIB);

		ck_assert_ptr_nonnull(p);
		daxkmem_free(DAXKMEM_KIND_DETECT, p);
	}
	daemon_stop(&d);
}
END_TEST

START_TEST(test_no_daemon)
{
	setenv("DAXKMEM_SOCKET", "/nonexistent/daxkmemd.sock", 1);
	errno = 0;
	ck_assert_ptr_null(daxkmem_malloc(DAXKMEM_KIND_KMEM, 10));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(daxkmem_check_available(DAXKMEM_KIND_KMEM_PREFERRED), ENOENT);
}
END_TEST

START_TEST(test_daxkmem_nodes_invalid)
{
	struct daemon d;

	start(&d, NULL);
	/* a node that does not exist: the daemon refuses it */
	setenv("DAXKMEM_NODES", "5", 1);
	ck_assert_ptr_null(daxkmem_malloc(DAXKMEM_KIND_KMEM, 100));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(daxkmem_check_available(DAXKMEM_KIND_KMEM), EINVAL);
	daemon_stop(&d);
}
END_TEST

START_TEST(test_daemon_dies)
{
	struct daemon d;
	unsigned char *small, *big;
	int status;

	start(&d, NULL);
	small = daxkmem_malloc(DAXKMEM_KIND_KMEM, 100);
	big = daxkmem_malloc(DAXKMEM_KIND_KMEM, 6 << 20);
	ck_assert_ptr_nonnull(small);
	ck_assert_ptr_nonnull(big);
	memset(big, 0x3c, 6 << 20);
	kill(d.pid, SIGKILL);
	waitpid(d.pid, &status, 0);
	/* live blocks stay usable */
	memset(small, 1, 100);
	ck_assert_uint_eq(big[(6 << 20) - 1], 0x3c);
	big[0] = 9;
	/* anything that needs a new region fails cleanly */
	errno = 0;
	ck_assert_ptr_null(daxkmem_malloc(DAXKMEM_KIND_KMEM, 6 << 20));
	ck_assert_msg(errno == ENOTCONN || errno == ECONNREFUSED || errno == ENOENT, "errno %d",
		      errno);
	daxkmem_free(DAXKMEM_KIND_KMEM, small);
	daxkmem_free(DAXKMEM_KIND_KMEM, big);
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", d.dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

START_TEST(test_fork)
{
	struct daemon d;
	char *a;
	int pipefd[2], status;
	pid_t child;

	uint64_t before;

	start(&d, NULL);
	a = daxkmem_malloc(DAXKMEM_KIND_KMEM, 4096);
	strcpy(a, "parent");
	before = status_granted(&d, 0);
	ck_assert_int_eq(pipe(pipefd), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		char *b;
		int ok = strcmp(a, "parent") == 0;

		strcpy(a, "child");           /* a private copy: the parent must not see it */
		daxkmem_free(DAXKMEM_KIND_KMEM, a);
		b = daxkmem_malloc(DAXKMEM_KIND_KMEM, 4096); /* the child's own session */
		ok = ok && b && b != a && daxkmem_detect_kind(b) == DAXKMEM_KIND_KMEM &&
		     status_clients(&d) == 2;
		if (ok) {
			unsigned long mask;

			ok = policy_of(b, &mask) == MPOL_BIND && mask == 1; /* a region of its own */
		}
		strcpy(b, "child's own");
		if (write(pipefd[1], ok ? "y" : "n", 1) != 1)
			_exit(1);
		_exit(0);
	}
	{
		char c = 0;

		close(pipefd[1]);
		ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
		ck_assert_int_eq(c, 'y');
		ck_assert_int_eq(waitpid(child, &status, 0), child);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		close(pipefd[0]);
	}
	ck_assert_str_eq(a, "parent");
	/* the parent's heap is intact */
	{
		char *b = daxkmem_malloc(DAXKMEM_KIND_KMEM, 4096);

		ck_assert_ptr_nonnull(b);
		ck_assert_ptr_ne(a, b);
		daxkmem_free(DAXKMEM_KIND_KMEM, b);
	}
	/* the child's exit returned its memory: what is left is the parent's */
	ck_assert(wait_granted(&d, 0, before, 5000));
	daxkmem_free(DAXKMEM_KIND_KMEM, a);
	daemon_stop(&d);
}
END_TEST

struct xfer {
	void *blocks[2000];
	int n;
};

static void *alloc_thread(void *arg)
{
	struct xfer *x = arg;

	for (x->n = 0; x->n < 2000; x->n++) {
		x->blocks[x->n] = daxkmem_malloc(DAXKMEM_KIND_KMEM, (size_t)(16 + x->n % 700));
		if (!x->blocks[x->n])
			break;
		memset(x->blocks[x->n], 0x11, 16);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct daemon d;
	static struct xfer x[4];
	pthread_t th[4];

	start(&d, NULL);
	for (int round = 0; round < 3; round++) {
		for (int t = 0; t < 4; t++)
			ck_assert_int_eq(pthread_create(&th[t], NULL, alloc_thread, &x[t]), 0);
		for (int t = 0; t < 4; t++) {
			pthread_join(th[t], NULL);
			ck_assert_int_eq(x[t].n, 2000);
		}
		/* freed by another thread than the one that allocated (those have exited) */
		for (int t = 0; t < 4; t++)
			for (int i = 0; i < 2000; i++)
				daxkmem_free(DAXKMEM_KIND_DETECT, x[t].blocks[i]);
	}
	ck_assert(wait_granted(&d, 0, 0, 5000));
	daemon_stop(&d);
}
END_TEST

/* A region: its size, its policy (PREFERRED: MPOL_PREFERRED node 0), the daemon's accounting. */
START_TEST(test_region_api_policy_and_accounting)
{
	struct daemon d;
	daxkmem_region_t *r;

	start(&d, NULL);
	r = daxkmem_region_get(DAXKMEM_KIND_KMEM_PREFERRED, 3 * MIB + 1, 1);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(daxkmem_region_size(r), 3 * MIB + 4096);
	ck_assert_int_ge(daxkmem_region_fd(r), 0);
	memset(daxkmem_region_addr(r), 1, daxkmem_region_size(r));
	assert_policy(daxkmem_region_addr(r), DAXKMEM_KIND_KMEM_PREFERRED);
	assert_policy((char *)daxkmem_region_addr(r) + 3 * MIB, DAXKMEM_KIND_KMEM_PREFERRED);
	ck_assert_uint_eq(status_granted(&d, 0), 3 * MIB + 4096);
	daxkmem_region_release(r);
	ck_assert_uint_eq(status_granted(&d, 0), 0);
	ck_assert_ptr_null(daxkmem_region_get(DAXKMEM_KIND_KMEM, 0, 0));
	ck_assert_int_eq(errno, EINVAL);
	daemon_stop(&d);
}
END_TEST

/* Pages of [p, p + len) mapped in this process (mincore), and of the region's memfd allocated. */
static size_t mapped_pages(const void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
	unsigned char *vec = calloc(len / page, 1);

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)p, len, vec), 0);
	for (size_t i = 0; i < len / page; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

static uint64_t allocated(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/*
 * prefault=1 under daemon_prefault=never: the daemon leaves the population to
 * the library, which populates its own mapping before returning (every page
 * allocated and mapped in this process, charged to its cgroup); prefault=0:
 * nothing until touched; -1 (the daemon's prefault = yes): populated.
 */
START_TEST(test_client_populates)
{
	struct daemon d;
	daxkmem_region_t *r;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	start(&d, "daemon_prefault = never");
	r = daxkmem_region_get(DAXKMEM_KIND_KMEM, 8 * MIB, 1);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(allocated(daxkmem_region_fd(r)), 8 * MIB);
	ck_assert_uint_eq(mapped_pages(daxkmem_region_addr(r), 8 * MIB), 8 * MIB / page);
	ck_assert_int_eq(daxkmem_node_of(daxkmem_region_addr(r)), 0);
	daxkmem_region_release(r);
	r = daxkmem_region_get(DAXKMEM_KIND_KMEM, 8 * MIB, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(allocated(daxkmem_region_fd(r)), 0);
	ck_assert_uint_eq(mapped_pages(daxkmem_region_addr(r), 8 * MIB), 0);
	daxkmem_region_release(r);
	/* the daemon's default (prefault = yes): populated, by the library */
	r = daxkmem_region_get(DAXKMEM_KIND_KMEM_ALL, 4 * MIB, -1);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(mapped_pages(daxkmem_region_addr(r), 4 * MIB), 4 * MIB / page);
	daxkmem_region_release(r);
	ck_assert(wait_granted(&d, 0, 0, 5000));
	daemon_stop(&d);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client-e2e");
	TCase *tc = tcase_create("library");

	tcase_timeout(tc, 120);
	tcase_add_test(tc, test_kinds_policy_and_accounting);
	tcase_add_test(tc, test_calloc_realloc_memalign);
	tcase_add_test(tc, test_realloc_tiers);
	tcase_add_test(tc, test_bad_free_reported);
	tcase_add_test(tc, test_quota_and_max_region_size);
	tcase_add_test(tc, test_capacity_enomem);
	tcase_add_test(tc, test_no_daemon);
	tcase_add_test(tc, test_daxkmem_nodes_invalid);
	tcase_add_test(tc, test_daemon_dies);
	tcase_add_test(tc, test_fork);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_region_api_policy_and_accounting);
	tcase_add_test(tc, test_client_populates);
	suite_add_tcase(s, tc);
	return s;
}

DKM_TEST_MAIN(client_suite)
