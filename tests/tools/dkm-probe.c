/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dkm-probe: allocate through libdaxkmem-client as a test script needs it,
 * and print where the memory landed in a form a shell can check.
 *
 *   dkm-probe [--cpu N] [--hold] malloc KIND SIZE COUNT
 *       COUNT blocks of SIZE bytes; each is written, its node read back with
 *       daxkmem_node_of and its kind with daxkmem_detect_kind.
 *   dkm-probe [--cpu N] [--hold] region KIND SIZE [nofault|untouched]
 *       one region (pre-faulted unless nofault: then the probe writes it);
 *       every page is mapped (MADV_POPULATE_READ) and its node read with
 *       move_pages, a batch at a time (or page by page with get_mempolicy
 *       where the kernel has no MADV_POPULATE_READ: much slower under TCG).
 *       untouched: not pre-faulted and never touched, so no page is
 *       resident (nodes= lists none) and the whole grant stays owed at the
 *       daemon: a cheap way to fill a node's admission.
 *
 * KIND: kmem, all, preferred. SIZE: bytes with an optional K, M or G.
 * Output, one line each:
 *   ok pid=PID cpu=C nodes=N:MiB[,N:MiB...] kind=KIND   (nodes in MiB, ascending)
 *   error ERRNO_NAME: text                               (exit status 1)
 * With --hold the memory stays allocated, after the line "holding", until
 * standard input closes; then it is freed and the probe exits 0.
 * The daemon's socket comes from DAXKMEM_SOCKET, as for any client.
 */
#include <errno.h>
#include <numaif.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daxkmem.h"

#define MAX_NODES 64

static uint64_t per_node[MAX_NODES];

static int usage(void)
{
	fprintf(stderr, "usage: dkm-probe [--cpu N] [--hold] malloc KIND SIZE COUNT\n"
			"       dkm-probe [--cpu N] [--hold] region KIND SIZE [nofault|untouched]\n");
	return 2;
}

static bool parse_size(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return false;
	switch (*end) {
	case 'G':
		v <<= 10;
		/* fall through */
	case 'M':
		v <<= 10;
		/* fall through */
	case 'K':
		v <<= 10;
		end++;
		break;
	default:
		break;
	}
	if (*end || !v)
		return false;
	*ret = v;
	return true;
}

static bool parse_kind(const char *s, daxkmem_kind_t *k)
{
	if (!strcmp(s, "kmem"))
		*k = DAXKMEM_KIND_KMEM;
	else if (!strcmp(s, "all"))
		*k = DAXKMEM_KIND_KMEM_ALL;
	else if (!strcmp(s, "preferred"))
		*k = DAXKMEM_KIND_KMEM_PREFERRED;
	else
		return false;
	return true;
}

static int fail(int err)
{
	const char *name = strerrorname_np(err);

	printf("error %s: %s\n", name ? name : "?", strerror(err));
	return 1;
}

static void print_ok(const char *kind)
{
	bool first = true;

	printf("ok pid=%d cpu=%d nodes=", (int)getpid(), sched_getcpu());
	for (int n = 0; n < MAX_NODES; n++)
		if (per_node[n]) {
			printf("%s%d:%llu", first ? "" : ",", n,
			       (unsigned long long)((per_node[n] + (1u << 20) - 1) >> 20));
			first = false;
		}
	printf(" kind=%s\n", kind);
	fflush(stdout);
}

/*
 * Count the region's pages per node: map them all in one call, then have
 * move_pages (with no target nodes it only reports) say where each one is.
 * -EINVAL from a kernel without MADV_POPULATE_READ (before 5.14).
 */
static int count_pages_batched(char *p, size_t len, size_t page)
{
	enum { BATCH = 4096 };
	static void *pages[BATCH];
	static int status[BATCH];

	if (madvise(p, len, MADV_POPULATE_READ) < 0)
		return -errno;
	for (size_t off = 0; off < len;) {
		unsigned long n = 0;

		for (; n < BATCH && off < len; n++, off += page)
			pages[n] = p + off;
		if (move_pages(0, n, pages, NULL, status, 0) < 0)
			return -errno;
		for (unsigned long i = 0; i < n; i++) {
			if (status[i] < 0)
				return status[i];
			if (status[i] < MAX_NODES)
				per_node[status[i]] += page;
		}
	}
	return 0;
}

static void hold(void)
{
	char buf[256];

	printf("holding\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
}

int main(int argc, char **argv)
{
	bool holding = false;
	int i = 1, cpu = -1;
	daxkmem_kind_t kind;
	uint64_t size;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--hold"))
			holding = true;
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else
			return usage();
	}
	if (argc - i < 3 || !parse_kind(argv[i + 1], &kind) || !parse_size(argv[i + 2], &size))
		return usage();
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			perror("dkm-probe: sched_setaffinity");
			return 2;
		}
	}

	if (!strcmp(argv[i], "malloc")) {
		long count = argc - i > 3 ? atol(argv[i + 3]) : 1;
		char **blocks;

		if (count <= 0)
			return usage();
		blocks = calloc((size_t)count, sizeof(*blocks));
		if (!blocks)
			return fail(ENOMEM);
		for (long b = 0; b < count; b++) {
			int node;

			blocks[b] = daxkmem_malloc(kind, size);
			if (!blocks[b])
				return fail(errno);
			memset(blocks[b], 0xa5, size);
			if (daxkmem_detect_kind(blocks[b]) != (int)kind) {
				printf("error EINVAL: block %ld detected as kind %d, not %d\n", b,
				       daxkmem_detect_kind(blocks[b]), (int)kind);
				return 1;
			}
			node = daxkmem_node_of(blocks[b]);
			if (node < 0 || node >= MAX_NODES)
				return fail(errno ? errno : EINVAL);
			per_node[node] += size;
		}
		print_ok(argv[i + 1]);
		if (holding)
			hold();
		for (long b = 0; b < count; b++)
			daxkmem_free(DAXKMEM_KIND_DETECT, blocks[b]);
		free(blocks);
		return 0;
	}
	if (!strcmp(argv[i], "region")) {
		bool nofault = argc - i > 3 && !strcmp(argv[i + 3], "nofault");
		bool untouched = argc - i > 3 && !strcmp(argv[i + 3], "untouched");
		daxkmem_region_t *r;
		char *p;
		size_t len, page = (size_t)sysconf(_SC_PAGESIZE);
		int err;

		if (argc - i > 3 && !nofault && !untouched)
			return usage();
		r = daxkmem_region_get(kind, size, nofault || untouched ? 0 : 1);
		if (!r)
			return fail(errno);
		p = daxkmem_region_addr(r);
		len = daxkmem_region_size(r);
		if (untouched)
			len = 0;
		if (nofault)
			for (size_t off = 0; off < len; off += page)
				p[off] = 1;
		err = count_pages_batched(p, len, page);
		if (err < 0 && err != -EINVAL)
			return fail(-err);
		if (err < 0)
			memset(per_node, 0, sizeof(per_node));
		for (size_t off = 0; err < 0 && off < len; off += page) {
			int node = -1;

			if (get_mempolicy(&node, NULL, 0, p + off, MPOL_F_NODE | MPOL_F_ADDR) < 0)
				return fail(errno);
			if (node >= 0 && node < MAX_NODES)
				per_node[node] += page;
		}
		print_ok(argv[i + 1]);
		if (holding)
			hold();
		daxkmem_region_release(r);
		return 0;
	}
	return usage();
}
