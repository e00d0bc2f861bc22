/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * omp-large-cap: OpenMP's large-capacity memory, which LLVM's libomp serves
 * from memkind's MEMKIND_DAX_KMEM_ALL when it finds memkind (built with
 * clang -fopenmp against Debian's libomp). Allocates and touches a block of
 * omp_large_cap_mem_alloc, prints "large_cap daxkmem yes|no" (whether the
 * block is in a region of daxkmemd's) and "ready", waits for a line on
 * standard input when given "hold", allocates from every thread of a
 * parallel region, frees everything and prints "done".
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SIZE (24u << 20)

static const char *in_daxkmem(const void *p)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	const char *r = "no";

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && (uintptr_t)p >= a && (uintptr_t)p < b)
			r = strstr(line, "/memfd:daxkmem:") ? "yes" : "no";
	}
	if (f)
		fclose(f);
	return r;
}

int main(int argc, char **argv)
{
	char *p = omp_alloc(SIZE, omp_large_cap_mem_alloc), line[16];
	int failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!p) {
		printf("omp_alloc failed\n");
		return 1;
	}
	memset(p, 1, SIZE);
	printf("large_cap daxkmem %s\n", in_daxkmem(p));
	printf("ready\n");
	if (argc > 1 && !strcmp(argv[1], "hold") && !fgets(line, sizeof(line), stdin))
		line[0] = '\0';
#pragma omp parallel reduction(+ : failed)
	{
		char *q = omp_alloc(100000, omp_large_cap_mem_alloc);

		if (q) {
			memset(q, 2, 100000);
			omp_free(q, omp_large_cap_mem_alloc);
		} else {
			failed++;
		}
	}
	omp_free(p, omp_large_cap_mem_alloc);
	printf("done\n");
	return failed ? 1 : 0;
}
