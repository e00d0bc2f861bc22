/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * region-demo: ask daxkmemd for one region of each kind, map it, populate it
 * when the daemon leaves that to the client (so that the pages are charged to
 * this process's memory cgroup), write to it, and print where its pages
 * landed (get_mempolicy) and how the kernel sees the mapping
 * (/proc/self/numa_maps). With --hold it keeps the regions mapped until its
 * standard input closes, so that daxkmemctl can show them.
 */
#include <errno.h>
#include <stdbool.h>
#include <numaif.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conn.h"
#include "util/format.h"

static void show_numa_maps(const void *addr)
{
	char line[512], want[32];
	FILE *f = fopen("/proc/self/numa_maps", "r");

	if (!f)
		return;
	snprintf(want, sizeof(want), "%lx ", (unsigned long)addr);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			printf("    numa_maps: %s", line);
	fclose(f);
}

int main(int argc, char **argv)
{
	static const uint32_t kinds[] = { DKM_KIND_KMEM, DKM_KIND_KMEM_ALL, DKM_KIND_KMEM_PREFERRED };
	bool hold = argc > 1 && !strcmp(argv[1], "--hold");
	const char *sock = argc > 1 + hold ? argv[1 + hold] : NULL;
	struct { int fd; uint64_t id; void *p; } kept[3];
	unsigned nkept = 0;
	uint64_t size = 64ull << 20;
	struct dkm_conn *c;
	unsigned cpu, node;
	char err[512], sz[32];
	int failed = 0;

	if (dkm_conn_open(sock, "region-demo", &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "region-demo: %s\n", err);
		return 1;
	}
	if (getcpu(&cpu, &node) < 0) {
		perror("getcpu");
		return 1;
	}
	printf("region-demo (pid %d) runs on CPU %u, node %u\n", (int)getpid(), cpu, node);
	for (unsigned k = 0; k < 3; k++) {
		struct dkm_alloc_region req = { .kind = kinds[k], .size = size, .cpu_node = (int32_t)node };
		struct dkm_region reg;
		int fd, mode = -1, first = -1, last = -1;
		unsigned long pages_on = 0, pages = 0;
		char *p;

		if (dkm_conn_alloc(c, &req, &reg, &fd) < 0) {
			printf("  %-15s refused: %s\n", dkm_kind_name(kinds[k]), c->err);
			failed++;
			continue;
		}
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		if (reg.flags & DKM_REGION_CLIENT_POPULATE) {
			int r = dkm_region_populate(p, size, fd);

			if (r < 0) {
				printf("  %-15s populating: %s\n", dkm_kind_name(kinds[k]), strerror(-r));
				munmap(p, size);
				close(fd);
				dkm_conn_release(c, reg.id);
				failed++;
				continue;
			}
		}
		memset(p, 0xa5, size);
		get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR);
		for (uint64_t off = 0; off < size; off += 4096, pages++) {
			int n = -1;

			if (get_mempolicy(&n, NULL, 0, p + off, MPOL_F_NODE | MPOL_F_ADDR) == 0) {
				if (first < 0)
					first = n;
				last = n;
				pages_on += n == reg.ranges[0].node;
			}
		}
		printf("  %-15s region %llu: %s, policy %s to node %d (%u range%s), populated by %s"
		       "\n    %lu of %lu pages on node %d (first page on %d, last on %d)\n",
		       dkm_kind_name(kinds[k]), (unsigned long long)reg.id,
		       dkm_format_bytes(reg.size, sz, sizeof(sz)),
		       mode == MPOL_BIND ? "BIND" : mode == MPOL_PREFERRED ? "PREFERRED" : "other",
		       reg.ranges[0].node, reg.nranges, reg.nranges == 1 ? "" : "s",
		       reg.flags & DKM_ALLOC_PREFAULT		? "the daemon"
		       : reg.flags & DKM_REGION_CLIENT_POPULATE ? "this client"
								 : "faults", pages_on, pages,
		       reg.ranges[0].node, first, last);
		show_numa_maps(p);
		kept[nkept].fd = fd;
		kept[nkept].id = reg.id;
		kept[nkept++].p = p;
	}
	if (hold) {
		char buf[64];

		printf("holding %u regions until standard input closes\n", nkept);
		fflush(stdout);
		while (read(0, buf, sizeof(buf)) > 0)
			;
	}
	for (unsigned i = 0; i < nkept; i++) {
		munmap(kept[i].p, size);
		close(kept[i].fd);
		if (dkm_conn_release(c, kept[i].id) < 0) {
			printf("  release: %s\n", c->err);
			failed++;
		}
	}
	dkm_conn_close(c);
	return failed ? 1 : 0;
}
