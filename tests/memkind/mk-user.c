/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mk-user: an ordinary memkind program, linked to Debian's real libmemkind,
 * that uses the DAX_KMEM kinds. Run unchanged with the real library or with
 * daxkmem's drop-in on its library path.
 *
 *   mk-user hold    allocate from each DAX kind (large and small blocks, a
 *                   realloc across kinds), touch everything, print one line
 *                   per kind, then "ready"; wait for a line on standard
 *                   input; free it all and print "done". Exit 1 if a kind
 *                   failed.
 *   mk-user probe   print what memkind_check_available says of DEFAULT and
 *                   the DAX kinds and whether a DAX allocation succeeds; a
 *                   DEFAULT allocation must work whatever the rest says.
 */
#include <errno.h>
#include <memkind.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MIB (1024 * 1024)

static const struct {
	const char *name;
	memkind_t *kind;
} dax[] = {
	{ "DAX_KMEM", &MEMKIND_DAX_KMEM },
	{ "DAX_KMEM_ALL", &MEMKIND_DAX_KMEM_ALL },
	{ "DAX_KMEM_PREFERRED", &MEMKIND_DAX_KMEM_PREFERRED },
};

/* "yes" when p is in a region daxkmemd handed out (its memfd's name says so). */
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

static int node_of(void *p)
{
	int node = -1;

	if (get_mempolicy(&node, NULL, 0, p, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -1;
	return node;
}

static int hold(void)
{
	char *big[3] = { 0 }, *small[3][100] = { { 0 } }, line[16];
	int failed = 0;

	for (int k = 0; k < 3; k++) {
		memkind_t kind = *dax[k].kind;
		int avail = memkind_check_available(kind), ok = 1;

		big[k] = memkind_malloc(kind, 16 * MIB);
		if (!big[k]) {
			printf("%s available %d malloc failed: %s\n", dax[k].name, avail, strerror(errno));
			failed = 1;
			continue;
		}
		memset(big[k], k + 1, 16 * MIB);
		for (int i = 0; i < 100; i++) {
			small[k][i] = memkind_malloc(kind, 100 + (size_t)i * 40);
			if (!small[k][i] || memkind_detect_kind(small[k][i]) != kind)
				ok = 0;
			else
				memset(small[k][i], i, 100 + (size_t)i * 40);
		}
		/* a block moved here from the system allocator keeps its contents */
		{
			char *d = memkind_malloc(MEMKIND_DEFAULT, 1000), *m;

			memset(d, 7, 1000);
			m = memkind_realloc(kind, d, 200000);
			if (!m || memkind_detect_kind(m) != kind || m[999] != 7)
				ok = 0;
			memkind_free(NULL, m);
		}
		printf("%s available %d blocks %s node %d daxkmem %s\n", dax[k].name, avail,
		       ok ? "ok" : "bad", node_of(big[k]), in_daxkmem(big[k]));
		failed |= !ok;
	}
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	for (int k = 0; k < 3; k++) {
		memkind_free(*dax[k].kind, big[k]);
		for (int i = 0; i < 100; i++)
			memkind_free(NULL, small[k][i]);
	}
	printf("done\n");
	return failed;
}

static int probe(void)
{
	char *p = memkind_malloc(MEMKIND_DEFAULT, 1000);

	printf("DEFAULT available %d malloc %s\n", memkind_check_available(MEMKIND_DEFAULT),
	       p ? "ok" : "failed");
	memkind_free(NULL, p);
	for (int k = 0; k < 3; k++) {
		int avail = memkind_check_available(*dax[k].kind);

		errno = 0;
		p = memkind_malloc(*dax[k].kind, 1000);
		printf("%s available %d malloc %s errno %d\n", dax[k].name, avail, p ? "ok" : "failed",
		       p ? 0 : errno);
		memkind_free(NULL, p);
	}
	p = memkind_malloc(MEMKIND_DEFAULT, 1000);
	if (!p)
		return 1;
	memkind_free(MEMKIND_DEFAULT, p);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "hold"))
		return hold();
	if (argc == 2 && !strcmp(argv[1], "probe"))
		return probe();
	fprintf(stderr, "usage: mk-user hold|probe\n");
	return 2;
}
