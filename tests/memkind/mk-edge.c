/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mk-edge: memkind's edge cases, as a program linked to Debian's real
 * libmemkind. "mk-edge common" prints a transcript of what the library
 * answers (return values, errno, what became of *memptr, whether a block is
 * big enough, aligned, of the right kind, keeps its contents: never a
 * pointer or a size that depends on the allocator): the test runs it once
 * with the real library and once with the drop-in on the library path, and
 * the two transcripts must be the same. "mk-edge dropin" checks, with the
 * drop-in, the answers that differ from memkind's by design
 * (daxkmem-memkind(7)), and exits 1 if one is wrong.
 *
 * MK_EDGE_SKIP=HBW,HUGETLB leaves out the high-bandwidth or huge-page kinds
 * (when the real memkind finds such memory on this machine, the drop-in
 * still does not serve it); "mk-edge skips" prints the value to use.
 */
#include <errno.h>
#include <hbwmalloc.h>
#include <memkind.h>
#include <numaif.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIND(x) { #x, &x }
struct named_kind {
	const char *name;
	memkind_t *kind;
};

/* Kinds both libraries can answer for on this host (see MK_EDGE_SKIP). */
static const struct named_kind served[] = {
	KIND(MEMKIND_DEFAULT), KIND(MEMKIND_REGULAR), KIND(MEMKIND_DAX_KMEM),
	KIND(MEMKIND_DAX_KMEM_ALL), KIND(MEMKIND_DAX_KMEM_PREFERRED),
};
static const struct named_kind hbw_kinds[] = {
	KIND(MEMKIND_HBW), KIND(MEMKIND_HBW_ALL), KIND(MEMKIND_HBW_PREFERRED),
	KIND(MEMKIND_HBW_INTERLEAVE), KIND(MEMKIND_LOWEST_LATENCY_LOCAL),
	KIND(MEMKIND_LOWEST_LATENCY_LOCAL_PREFERRED), KIND(MEMKIND_HIGHEST_BANDWIDTH_LOCAL),
	KIND(MEMKIND_HIGHEST_BANDWIDTH_LOCAL_PREFERRED),
};
static const struct named_kind hugetlb_kinds[] = {
	KIND(MEMKIND_HUGETLB), KIND(MEMKIND_GBTLB), KIND(MEMKIND_HBW_HUGETLB),
	KIND(MEMKIND_HBW_ALL_HUGETLB), KIND(MEMKIND_HBW_PREFERRED_HUGETLB), KIND(MEMKIND_HBW_GBTLB),
	KIND(MEMKIND_HBW_PREFERRED_GBTLB),
};
/* Every built-in kind, to name a kind pointer. */
static const struct named_kind all_kinds[] = {
	KIND(MEMKIND_DEFAULT), KIND(MEMKIND_REGULAR), KIND(MEMKIND_DAX_KMEM),
	KIND(MEMKIND_DAX_KMEM_ALL), KIND(MEMKIND_DAX_KMEM_PREFERRED),
	KIND(MEMKIND_DAX_KMEM_INTERLEAVE), KIND(MEMKIND_HBW), KIND(MEMKIND_HBW_ALL),
	KIND(MEMKIND_HBW_PREFERRED), KIND(MEMKIND_HBW_INTERLEAVE), KIND(MEMKIND_HUGETLB),
	KIND(MEMKIND_GBTLB), KIND(MEMKIND_HBW_HUGETLB), KIND(MEMKIND_HBW_ALL_HUGETLB),
	KIND(MEMKIND_HBW_PREFERRED_HUGETLB), KIND(MEMKIND_HBW_GBTLB),
	KIND(MEMKIND_HBW_PREFERRED_GBTLB), KIND(MEMKIND_INTERLEAVE),
	KIND(MEMKIND_HIGHEST_CAPACITY), KIND(MEMKIND_HIGHEST_CAPACITY_PREFERRED),
	KIND(MEMKIND_HIGHEST_CAPACITY_LOCAL), KIND(MEMKIND_HIGHEST_CAPACITY_LOCAL_PREFERRED),
	KIND(MEMKIND_LOWEST_LATENCY_LOCAL), KIND(MEMKIND_LOWEST_LATENCY_LOCAL_PREFERRED),
	KIND(MEMKIND_HIGHEST_BANDWIDTH_LOCAL), KIND(MEMKIND_HIGHEST_BANDWIDTH_LOCAL_PREFERRED),
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *kind_name(memkind_t k)
{
	if (!k)
		return "NULL";
	for (size_t i = 0; i < N(all_kinds); i++)
		if (*all_kinds[i].kind == k)
			return all_kinds[i].name;
	return "unknown";
}

/* What became of a pointer that was sentinel before the call (NULL: a returned pointer). */
static const char *ptr_state(void *p, void *sentinel)
{
	return sentinel && p == sentinel ? "untouched" : p ? "ptr" : "NULL";
}

static bool skipped(const char *what)
{
	const char *s = getenv("MK_EDGE_SKIP");

	return s && strstr(s, what);
}

static void fill(void *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		((unsigned char *)p)[i] = (unsigned char)(seed + i * 7);
}

static bool same(const void *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (((const unsigned char *)p)[i] != (unsigned char)(seed + i * 7))
			return false;
	return true;
}

static const char *capacity_class(ssize_t c)
{
	return c > 0 ? "positive" : c == 0 ? "0" : c == -1 ? "-1" : "other";
}

/* ---- one kind ---- */

static void kind_cases(const char *name, memkind_t k, bool capacity)
{
	static const size_t sizes[] = { 1, 16, 100, 4096, 65536, 1 << 20, 5 << 20 };
	static const size_t bad_sizes[] = { SIZE_MAX, SIZE_MAX / 2, (size_t)PTRDIFF_MAX + 1 };
	static const size_t aligns[] = { 0, 1, 3, 4, 8, 16, 24, 64, 4096, 1 << 21 };
	void *p, *q, *sentinel = (void *)&sizes;
	int r;

	/* errno after check_available is not memkind's to define (system calls leave theirs) */
	printf("%s check_available %d\n", name, memkind_check_available(k));
	if (capacity)
		printf("%s capacity %s\n", name, capacity_class(memkind_get_capacity(k)));

	errno = 0;
	p = memkind_malloc(k, 0);
	printf("%s malloc(0) %s errno %d\n", name, ptr_state(p, NULL), errno);
	memkind_free(k, p);
	for (size_t i = 0; i < N(sizes); i++) {
		errno = 0;
		p = memkind_malloc(k, sizes[i]);
		printf("%s malloc(%zu) %s errno %d", name, sizes[i], ptr_state(p, NULL), errno);
		if (p) {
			fill(p, sizes[i], 3);
			printf(" usable>=size %d aligned16 %d kind %s",
			       memkind_malloc_usable_size(k, p) >= sizes[i], ((uintptr_t)p & 15) == 0,
			       kind_name(memkind_detect_kind(p)));
		}
		printf("\n");
		errno = 0;
		memkind_free(k, p);
		printf("%s free errno %d\n", name, errno);
	}
	for (size_t i = 0; i < N(bad_sizes); i++) {
		errno = 0;
		p = memkind_malloc(k, bad_sizes[i]);
		printf("%s malloc(huge %zu) %s errno %d\n", name, i, ptr_state(p, NULL), errno);
		memkind_free(k, p);
	}

	errno = 0;
	p = memkind_calloc(k, 0, 5);
	printf("%s calloc(0, 5) %s errno %d\n", name, ptr_state(p, NULL), errno);
	memkind_free(k, p);
	errno = 0;
	p = memkind_calloc(k, 5, 0);
	printf("%s calloc(5, 0) %s errno %d\n", name, ptr_state(p, NULL), errno);
	memkind_free(k, p);
	errno = 0;
	p = memkind_calloc(k, SIZE_MAX, 2);
	printf("%s calloc(overflow) %s errno %d\n", name, ptr_state(p, NULL), errno);
	/* a block dirtied and freed first, so the zeroing is calloc's */
	q = memkind_malloc(k, 4000);
	if (q)
		memset(q, 0xa5, 4000);
	memkind_free(k, q);
	errno = 0;
	p = memkind_calloc(k, 100, 40);
	printf("%s calloc(100, 40) %s errno %d", name, ptr_state(p, NULL), errno);
	if (p) {
		bool zero = true;

		for (size_t i = 0; i < 4000; i++)
			zero &= ((unsigned char *)p)[i] == 0;
		printf(" zeroed %d kind %s", zero, kind_name(memkind_detect_kind(p)));
	}
	printf("\n");
	memkind_free(k, p);

	errno = 0;
	p = memkind_realloc(k, NULL, 0);
	printf("%s realloc(NULL, 0) %s errno %d\n", name, ptr_state(p, NULL), errno);
	memkind_free(k, p);
	errno = 0;
	p = memkind_realloc(k, NULL, 300);
	printf("%s realloc(NULL, 300) %s errno %d", name, ptr_state(p, NULL), errno);
	if (p) {
		printf(" kind %s", kind_name(memkind_detect_kind(p)));
		fill(p, 300, 5);
		errno = 0;
		q = memkind_realloc(k, p, SIZE_MAX);
		printf(" realloc(MAX) %s errno %d kept %d", ptr_state(q, NULL), errno, same(p, 300, 5));
		errno = 0;
		q = memkind_realloc(k, p, 70000);
		printf(" grow %s errno %d kept %d", ptr_state(q, NULL), errno, q && same(q, 300, 5));
		if (q) {
			p = q;
			errno = 0;
			q = memkind_realloc(k, p, 100);
			printf(" shrink %s errno %d kept %d", ptr_state(q, NULL), errno,
			       q && same(q, 100, 5));
			if (q)
				p = q;
		}
		errno = 0;
		q = memkind_realloc(k, p, 0);
		printf(" realloc(0) %s errno %d", ptr_state(q, NULL), errno);
	}
	printf("\n");

	for (size_t i = 0; i < N(aligns); i++) {
		for (size_t s = 0; s <= 100; s += 100) {
			p = sentinel;
			errno = 0;
			r = memkind_posix_memalign(k, &p, aligns[i], s);
			printf("%s posix_memalign(%zu, %zu) %d %s errno %d", name, aligns[i], s, r,
			       ptr_state(p, sentinel), errno);
			if (r == 0 && p && p != sentinel) {
				printf(" aligned %d usable>=size %d kind %s",
				       ((uintptr_t)p & (aligns[i] - 1)) == 0,
				       memkind_malloc_usable_size(NULL, p) >= s,
				       kind_name(memkind_detect_kind(p)));
				fill(p, s, 1);
				memkind_free(k, p);
			}
			printf("\n");
		}
	}
	p = sentinel;
	errno = 0;
	r = memkind_posix_memalign(k, &p, 64, SIZE_MAX);
	printf("%s posix_memalign(64, MAX) %d %s errno %d\n", name, r, ptr_state(p, sentinel), errno);
	printf("%s usable_size(NULL) %zu\n", name, memkind_malloc_usable_size(k, NULL));
	memkind_free(k, NULL);
	printf("%s defrag_reallocate(NULL) %s\n", name,
	       ptr_state(memkind_defrag_reallocate(k, NULL), NULL));
}

/* ---- across kinds ---- */

static void cross_cases(void)
{
	for (size_t a = 0; a < N(served); a++) {
		for (size_t b = 0; b < N(served); b++) {
			memkind_t ka = *served[a].kind, kb = *served[b].kind;
			char *p = memkind_malloc(ka, 1000), *q, *r;

			if (!p) {
				printf("cross %s -> %s: no block\n", served[a].name, served[b].name);
				continue;
			}
			fill(p, 1000, 9);
			errno = 0;
			q = memkind_realloc(kb, p, 3000);
			printf("cross %s -> %s realloc %s errno %d", served[a].name, served[b].name,
			       ptr_state(q, NULL), errno);
			if (!q) {
				memkind_free(ka, p);
				printf("\n");
				continue;
			}
			printf(" kind %s kept %d", kind_name(memkind_detect_kind(q)), same(q, 1000, 9));
			errno = 0;
			r = memkind_realloc(NULL, q, 500);
			printf(" realloc(NULL kind) %s errno %d", ptr_state(r, NULL), errno);
			/*
			 * The kind of that block is left out: memkind 1.14 may hand back one
			 * that memkind_detect_kind gives another kind (the drop-in keeps the
			 * kind, as memkind(3) says; "mk-edge dropin" checks it).
			 */
			if (r) {
				printf(" kept %d usable>=500 %d", same(r, 500, 9),
				       memkind_malloc_usable_size(NULL, r) >= 500);
				q = r;
			}
			/* freed with the other kind: memkind frees the block wherever it came from */
			errno = 0;
			memkind_free(ka, q);
			printf(" free(%s) errno %d\n", served[a].name, errno);
		}
	}
	for (size_t a = 0; a < N(served); a++) {
		void *p = memkind_malloc(*served[a].kind, 200);

		printf("NULL kind %s: usable>=200 %d", served[a].name,
		       p && memkind_malloc_usable_size(NULL, p) >= 200);
		errno = 0;
		memkind_free(NULL, p);
		printf(" free errno %d\n", errno);
	}
	printf("detect_kind(NULL) %s\n", kind_name(memkind_detect_kind(NULL)));
	printf("usable_size(NULL, NULL) %zu\n", memkind_malloc_usable_size(NULL, NULL));
	errno = 0;
	printf("realloc(NULL, NULL, 10) %s", ptr_state(memkind_realloc(NULL, NULL, 10), NULL));
	printf(" errno %d\n", errno);
	memkind_free(NULL, NULL);
}

/* ---- errors, version, kind management ---- */

static void error_cases(void)
{
	static const int extra[] = { -255, -256, -300, 1000, INT32_MIN, INT32_MAX };
	static const size_t sizes[] = { 0, 1, 6, 12, 30, 128 };

	printf("version %d\n", memkind_get_version());
	for (int e = -30; e <= 30 + (int)N(extra); e++) {
		int err = e <= 30 ? e : extra[e - 31];

		for (size_t i = 0; i < N(sizes); i++) {
			char msg[200];

			memset(msg, 'X', sizeof(msg));
			memkind_error_message(err, msg, sizes[i]);
			printf("error_message(%d, %zu) [", err, sizes[i]);
			for (size_t j = 0; j < sizes[i] + 2 && j < sizeof(msg); j++)
				putchar(msg[j] ? msg[j] : '|');
			printf("]\n");
		}
	}
}

static void management_cases(void)
{
	static const unsigned flags[] = { 0, 1, MEMKIND_MASK_PAGE_SIZE_2MB, 22 };
	struct memkind_config *cfg;
	memkind_t k;
	size_t v = 7;
	int r;

	for (int mt = 0; mt <= 4; mt++)
		for (int pol = -1; pol <= MEMKIND_POLICY_MAX_VALUE + 1; pol++)
			for (size_t f = 0; f < N(flags); f++) {
				/* interleaving over all nodes: memkind serves it, daxkmem does not */
				if (mt == 3 && pol == MEMKIND_POLICY_INTERLEAVE_ALL && flags[f] == 0)
					continue;
				k = (memkind_t)&v;
				r = memkind_create_kind((memkind_memtype_t)mt, (memkind_policy_t)pol,
							(memkind_bits_t)flags[f], &k);
				printf("create_kind(%d, %d, %u) %d %s\n", mt, pol, flags[f], r,
				       k == (memkind_t)&v ? "untouched" : kind_name(k));
			}
	printf("create_kind(kind NULL) %d\n",
	       memkind_create_kind(MEMKIND_MEMTYPE_DEFAULT, MEMKIND_POLICY_PREFERRED_LOCAL, 0, NULL));
	for (int part = -1; part <= MEMKIND_NUM_BASE_KIND + 1; part++) {
		k = (memkind_t)&v;
		r = memkind_get_kind_by_partition(part, &k);
		printf("get_kind_by_partition(%d) %d %s\n", part, r,
		       k == (memkind_t)&v ? "untouched" : kind_name(k));
	}
	printf("destroy_kind(DEFAULT) %d\n", memkind_destroy_kind(MEMKIND_DEFAULT));
	k = (memkind_t)&v;
	printf("create_pmem(/nonexistent) %d", memkind_create_pmem("/nonexistent/dir", 0, &k));
	printf(" %s\n", k == (memkind_t)&v ? "untouched" : "set");
	printf("create_pmem(small) %d", memkind_create_pmem("/tmp", 1, &k));
	printf(" %s\n", k == (memkind_t)&v ? "untouched" : "set");
	cfg = memkind_config_new();
	printf("config_new %s\n", cfg ? "ptr" : "NULL");
	memkind_config_set_path(cfg, "/tmp");
	memkind_config_set_size(cfg, 1);
	memkind_config_set_memory_usage_policy(cfg, MEMKIND_MEM_USAGE_POLICY_CONSERVATIVE);
	printf("create_pmem_with_config(small) %d\n", memkind_create_pmem_with_config(cfg, &k));
	memkind_config_delete(cfg);
	printf("set_bg_threads(false) %d\n", memkind_set_bg_threads(false));
	printf("update_cached_stats %d\n", memkind_update_cached_stats());
	printf("get_stat(bad type) %d\n", memkind_get_stat(MEMKIND_DEFAULT, (memkind_stat_type)99, &v));
	printf("stats_print(bad options) %d\n",
	       memkind_stats_print(NULL, NULL, (memkind_stat_print_opt)(1u << 12)));
}

/* ---- hbwmalloc ---- */

static void hbw_cases(void)
{
	void *p, *q, *sentinel = (void *)&p;
	int r;

	printf("hbw_check_available %d\n", hbw_check_available());
	printf("hbw_get_policy %d\n", hbw_get_policy());
	errno = 0;
	p = hbw_malloc(0);
	printf("hbw_malloc(0) %s errno %d\n", ptr_state(p, NULL), errno);
	errno = 0;
	p = hbw_malloc(100);
	printf("hbw_malloc(100) %s errno %d", ptr_state(p, NULL), errno);
	if (p) {
		printf(" kind %s usable>=100 %d", kind_name(memkind_detect_kind(p)),
		       hbw_malloc_usable_size(p) >= 100);
		printf(" verify(NULL) %d verify(size 0) %d verify(bad flags) %d",
		       hbw_verify_memory_region(NULL, 100, 0), hbw_verify_memory_region(p, 0, 0),
		       hbw_verify_memory_region(p, 100, 4));
		fill(p, 100, 2);
		printf(" verify %d", hbw_verify_memory_region(p, 100, 0));
		q = hbw_realloc(p, 5000);
		printf(" realloc %s kept %d", ptr_state(q, NULL), q && same(q, 100, 2));
		if (q)
			p = q;
		hbw_free(p);
	}
	printf("\n");
	p = hbw_calloc(3, 7);
	printf("hbw_calloc(3, 7) %s", ptr_state(p, NULL));
	if (p) {
		bool zero = true;

		for (int i = 0; i < 21; i++)
			zero &= ((char *)p)[i] == 0;
		printf(" zeroed %d", zero);
	}
	printf("\n");
	hbw_free(p);
	hbw_free(NULL);
	p = sentinel;
	r = hbw_posix_memalign(&p, 64, 100);
	printf("hbw_posix_memalign(64, 100) %d %s\n", r, ptr_state(p, sentinel));
	if (r == 0)
		hbw_free(p);
	p = sentinel;
	r = hbw_posix_memalign(&p, 3, 100);
	printf("hbw_posix_memalign(3, 100) %d %s\n", r, ptr_state(p, sentinel));
	for (int ps = 0; ps < HBW_PAGESIZE_MAX_VALUE; ps++) {
		for (size_t s = 100; s <= (1u << 30); s += (1u << 30) - 100) {
			/* 1 GiB pages for a 1 GiB block would succeed nowhere here; keep it small */
			if (s > 100 && ps != HBW_PAGESIZE_1GB_STRICT)
				continue;
			p = sentinel;
			r = hbw_posix_memalign_psize(&p, 64, s, (hbw_pagesize_t)ps);
			printf("hbw_posix_memalign_psize(64, %zu, %d) %d %s\n", s, ps, r,
			       ptr_state(p, sentinel));
			if (r == 0 && p && p != sentinel)
				hbw_free(p);
		}
	}
	printf("hbw_set_policy(5) %d\n", hbw_set_policy((hbw_policy_t)5));
	printf("hbw_set_policy(BIND) %d\n", hbw_set_policy(HBW_POLICY_BIND));
	printf("hbw_set_policy(PREFERRED) %d\n", hbw_set_policy(HBW_POLICY_PREFERRED));
	printf("hbw_get_policy %d\n", hbw_get_policy());
}

static int common(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	error_cases();
	for (size_t i = 0; i < N(served); i++)
		/* memkind 1.14 reports no capacity for REGULAR; daxkmem does (daxkmem-memkind(7)) */
		kind_cases(served[i].name, *served[i].kind, *served[i].kind != MEMKIND_REGULAR);
	if (!skipped("HBW"))
		for (size_t i = 0; i < N(hbw_kinds); i++)
			kind_cases(hbw_kinds[i].name, *hbw_kinds[i].kind, true);
	if (!skipped("HUGETLB"))
		for (size_t i = 0; i < N(hugetlb_kinds); i++)
			kind_cases(hugetlb_kinds[i].name, *hugetlb_kinds[i].kind, true);
	cross_cases();
	management_cases();
	if (!skipped("HBW"))
		hbw_cases();
	printf("end\n");
	return 0;
}

/* ======================================================================
 * The drop-in's own answers
 * ====================================================================== */

static int failures;

#define EXPECT(cond, ...)                                          \
	do {                                                       \
		if (!(cond)) {                                     \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__);                       \
			printf("\n");                              \
			failures++;                                \
		}                                                  \
	} while (0)

/* The mapping holding p, from /proc/self/maps ("" if none). */
static const char *mapping_of(const void *p)
{
	static char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return "";
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && (uintptr_t)p >= a && (uintptr_t)p < b) {
			fclose(f);
			return line;
		}
	}
	fclose(f);
	return "";
}

static void write_cb(void *opaque, const char *s)
{
	(*(int *)opaque)++;
	(void)s;
}

struct thread_arg {
	memkind_t kind;
	int failed;
};

static void *churn(void *arg)
{
	struct thread_arg *a = arg;
	void *blocks[256] = { 0 };

	for (int round = 0; round < 12; round++)
		for (int i = 0; i < 256; i++) {
			size_t size = 16 + (size_t)((i * 131 + round * 17) % 9000);

			memkind_free(NULL, blocks[i]);
			blocks[i] = memkind_malloc(a->kind, size);
			if (!blocks[i] || memkind_detect_kind(blocks[i]) != a->kind)
				a->failed++;
			else
				memset(blocks[i], i, size);
		}
	for (int i = 0; i < 256; i++)
		memkind_free(a->kind, blocks[i]);
	return NULL;
}

static int dropin(void)
{
	static const struct named_kind unserved[] = {
		KIND(MEMKIND_INTERLEAVE), KIND(MEMKIND_DAX_KMEM_INTERLEAVE),
		KIND(MEMKIND_HIGHEST_CAPACITY), KIND(MEMKIND_HIGHEST_CAPACITY_PREFERRED),
		KIND(MEMKIND_HIGHEST_CAPACITY_LOCAL), KIND(MEMKIND_HIGHEST_CAPACITY_LOCAL_PREFERRED),
	};
	static char area[1 << 20];
	struct memkind_config *cfg;
	memkind_t k, sentinel_kind = (memkind_t)area;
	void *p, *sys;
	size_t v;
	int calls = 0;

	/* a pointer of the system allocator is MEMKIND_DEFAULT's */
	sys = malloc(100);
	EXPECT(memkind_detect_kind(sys) == MEMKIND_DEFAULT, "detect_kind(malloc()) is %s",
	       kind_name(memkind_detect_kind(sys)));
	EXPECT(memkind_malloc_usable_size(NULL, sys) >= 100, "usable size of a malloc() block");
	sys = memkind_realloc(NULL, sys, 200);
	EXPECT(sys && memkind_detect_kind(sys) == MEMKIND_DEFAULT, "realloc(NULL kind) of malloc()");
	memkind_free(NULL, sys);

	for (size_t i = 0; i < N(unserved); i++) {
		memkind_t u = *unserved[i].kind;

		EXPECT(memkind_check_available(u) == MEMKIND_ERROR_UNAVAILABLE, "%s available: %d",
		       unserved[i].name, memkind_check_available(u));
		errno = 0;
		EXPECT(!memkind_malloc(u, 10) && errno == ENOMEM, "%s malloc", unserved[i].name);
		errno = 0;
		EXPECT(!memkind_calloc(u, 1, 10) && errno == ENOMEM, "%s calloc", unserved[i].name);
		errno = 0;
		EXPECT(!memkind_realloc(u, NULL, 10) && errno == ENOMEM, "%s realloc", unserved[i].name);
		p = area;
		EXPECT(memkind_posix_memalign(u, &p, 64, 10) == ENOMEM && !p, "%s posix_memalign",
		       unserved[i].name);
		EXPECT(memkind_get_capacity(u) == -1, "%s capacity", unserved[i].name);
	}
	k = sentinel_kind;
	EXPECT(memkind_create_kind(MEMKIND_MEMTYPE_DEFAULT | MEMKIND_MEMTYPE_HIGH_BANDWIDTH,
				   MEMKIND_POLICY_INTERLEAVE_ALL, 0, &k) ==
		       MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE && k == sentinel_kind,
	       "create_kind(interleave all)");
	EXPECT(memkind_create_pmem("/tmp", 0, &k) == MEMKIND_ERROR_UNAVAILABLE && k == sentinel_kind,
	       "create_pmem");
	cfg = memkind_config_new();
	memkind_config_set_path(cfg, "/tmp");
	EXPECT(memkind_create_pmem_with_config(cfg, &k) == MEMKIND_ERROR_UNAVAILABLE,
	       "create_pmem_with_config");
	memkind_config_delete(cfg);
	EXPECT(memkind_create_fixed(area, sizeof(area), &k) == MEMKIND_ERROR_UNAVAILABLE &&
		       k == sentinel_kind, "create_fixed");
	EXPECT(memkind_check_dax_path("/tmp") == MEMKIND_ERROR_UNAVAILABLE, "check_dax_path");
	EXPECT(memkind_get_stat(MEMKIND_DEFAULT, MEMKIND_STAT_TYPE_ALLOCATED, &v) ==
		       MEMKIND_ERROR_OPERATION_FAILED, "get_stat");
	EXPECT(memkind_stats_print(write_cb, &calls, MEMKIND_STAT_PRINT_ALL) == 0 && calls == 1,
	       "stats_print");
	EXPECT(memkind_get_capacity(MEMKIND_REGULAR) > 0, "REGULAR capacity");

	/* hbwmalloc: no page is ever on high-bandwidth memory, touched or not */
	p = hbw_malloc(100);
	EXPECT(p && hbw_verify_memory_region(p, 100, HBW_TOUCH_PAGES) == -1, "hbw verify, touched");
	hbw_free(p);
	p = area;
	EXPECT(hbw_posix_memalign_psize(&p, 64, 100, HBW_PAGESIZE_MAX_VALUE) == EINVAL && p == area,
	       "hbw psize out of range");

	/* the DAX kinds' blocks are in daxkmem's regions */
	{
		static const struct named_kind dax[] = {
			KIND(MEMKIND_DAX_KMEM), KIND(MEMKIND_DAX_KMEM_ALL), KIND(MEMKIND_DAX_KMEM_PREFERRED),
		};

		for (size_t i = 0; i < N(dax); i++) {
			static const size_t sizes[] = { 64, 100000, 3 << 20 };

			for (size_t s = 0; s < N(sizes); s++) {
				char *b = memkind_malloc(*dax[i].kind, sizes[s]);

				EXPECT(b != NULL, "%s malloc(%zu)", dax[i].name, sizes[s]);
				if (!b)
					continue;
				memset(b, 1, sizes[s]);
				EXPECT(strstr(mapping_of(b), "/memfd:daxkmem:"), "%s block at %p not in a "
				       "daxkmem region: %s", dax[i].name, (void *)b, mapping_of(b));
				memkind_free(NULL, b);
			}
		}
	}
	/* REGULAR: its own mappings, bound to the nodes with CPUs */
	{
		static const size_t sizes[] = { 16, 5000, 40000, 3 << 20 };
		void *small[2000];

		for (size_t s = 0; s < N(sizes); s++) {
			char *b = memkind_malloc(MEMKIND_REGULAR, sizes[s]);
			unsigned long mask[16] = { 0 };
			int mode = -1;

			EXPECT(b != NULL, "REGULAR malloc(%zu)", sizes[s]);
			if (!b)
				continue;
			memset(b, 2, sizes[s]);
			EXPECT(get_mempolicy(&mode, mask, 16 * 64, b, MPOL_F_ADDR) == 0 &&
				       mode == MPOL_BIND && (mask[0] & 1),
			       "REGULAR block of %zu: policy %d mask %#lx", sizes[s], mode, mask[0]);
			EXPECT(!strstr(mapping_of(b), "memfd"), "REGULAR in a memfd");
			memkind_free(MEMKIND_REGULAR, b);
		}
		p = NULL;
		EXPECT(memkind_posix_memalign(MEMKIND_REGULAR, &p, 1 << 22, 100) == 0 &&
			       ((uintptr_t)p & ((1 << 22) - 1)) == 0, "REGULAR aligned 4 MiB");
		memkind_free(NULL, p);
		/* enough small blocks for several chunks, all freed: chunks go back */
		for (int round = 0; round < 3; round++) {
			for (int i = 0; i < 2000; i++) {
				small[i] = memkind_malloc(MEMKIND_REGULAR, 1000);
				EXPECT(small[i] && memkind_detect_kind(small[i]) == MEMKIND_REGULAR,
				       "REGULAR small block %d", i);
			}
			for (int i = 0; i < 2000; i++)
				memkind_free(NULL, small[i]);
		}
	}
	/* a NULL kind keeps the block's kind, across every allocator */
	for (size_t a = 0; a < N(served); a++) {
		char *b = memkind_malloc(*served[a].kind, 1000), *c;

		c = b ? memkind_realloc(NULL, b, 500) : NULL;
		EXPECT(c && memkind_detect_kind(c) == *served[a].kind, "realloc(NULL kind) of %s gives %s",
		       served[a].name, c ? kind_name(memkind_detect_kind(c)) : "NULL");
		c = c ? memkind_realloc(NULL, c, 300000) : NULL;
		EXPECT(c && memkind_detect_kind(c) == *served[a].kind, "growing with NULL kind: %s",
		       served[a].name);
		memkind_free(NULL, c);
	}
	/* threads: each kind from 4 threads at once */
	{
		static const struct named_kind kinds[] = {
			KIND(MEMKIND_DEFAULT), KIND(MEMKIND_REGULAR), KIND(MEMKIND_DAX_KMEM),
		};

		for (size_t i = 0; i < N(kinds); i++) {
			pthread_t t[4];
			struct thread_arg a[4];

			for (int j = 0; j < 4; j++) {
				a[j] = (struct thread_arg){ .kind = *kinds[i].kind };
				pthread_create(&t[j], NULL, churn, &a[j]);
			}
			for (int j = 0; j < 4; j++) {
				pthread_join(t[j], NULL);
				EXPECT(!a[j].failed, "%s from 4 threads: %d failures", kinds[i].name,
				       a[j].failed);
			}
		}
	}
	/* fork: the child allocates and frees on its own, and frees what it inherited */
	{
		char *inherited = memkind_malloc(MEMKIND_DAX_KMEM, 1000);
		char *reg = memkind_malloc(MEMKIND_REGULAR, 1000);
		pid_t pid = fork();
		int status = 0;

		if (pid == 0) {
			char *b = memkind_malloc(MEMKIND_DAX_KMEM, 5000), *c;

			c = memkind_malloc(MEMKIND_REGULAR, 5000);
			if (!b || !c || memkind_detect_kind(b) != MEMKIND_DAX_KMEM)
				_exit(2);
			memset(b, 1, 5000);
			memset(c, 1, 5000);
			memkind_free(NULL, b);
			memkind_free(NULL, c);
			memkind_free(NULL, inherited);
			memkind_free(NULL, reg);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child after fork: status %#x",
		       status);
		memkind_free(NULL, inherited);
		memkind_free(NULL, reg);
	}
	printf("%d failures\n", failures);
	return failures ? 1 : 0;
}

/* The groups of kinds this library serves here (the real memkind may), for MK_EDGE_SKIP. */
static int skips(void)
{
	const char *sep = "";

	for (size_t i = 0; i < N(hbw_kinds); i++)
		if (memkind_check_available(*hbw_kinds[i].kind) == 0) {
			printf("HBW");
			sep = ",";
			break;
		}
	for (size_t i = 0; i < N(hugetlb_kinds); i++)
		if (memkind_check_available(*hugetlb_kinds[i].kind) == 0) {
			printf("%sHUGETLB", sep);
			break;
		}
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "skips"))
		return skips();
	if (argc == 2 && !strcmp(argv[1], "common"))
		return common();
	if (argc == 2 && !strcmp(argv[1], "dropin"))
		return dropin();
	fprintf(stderr, "usage: mk-edge common|dropin|skips\n");
	return 2;
}
