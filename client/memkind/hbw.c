/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <hbwmalloc.h> over the kinds, as memkind 1.14 defines it (hbwmalloc(3)).
 * High-bandwidth memory is never available here (daxkmem brokers KMEM
 * nodes), so hbw_check_available says ENODEV, the default policy PREFERRED
 * falls back to MEMKIND_DEFAULT (and to the huge-page kinds, unavailable,
 * for 2 MiB and 1 GiB pages), and BIND, BIND_ALL and INTERLEAVE allocate
 * nothing.
 */
#include <errno.h>
#include <numaif.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "mk.h"

static hbw_policy_t policy = HBW_POLICY_PREFERRED;
static pthread_once_t policy_once = PTHREAD_ONCE_INIT;
static hbw_policy_t policy_wanted; /* what the pthread_once routine sets */
static atomic_bool policy_fixed;   /* the once routine ran */

static void set_policy_once(void)
{
	policy = policy_wanted;
	atomic_store_explicit(&policy_fixed, true, memory_order_release);
}

DKM_MK_EXPORT hbw_policy_t hbw_get_policy(void)
{
	return policy;
}

/* The policy is set once: by the first hbw_set_policy, or by the first allocation (the default). */
DKM_MK_EXPORT int hbw_set_policy(hbw_policy_t mode)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

	switch (mode) {
	case HBW_POLICY_PREFERRED:
	case HBW_POLICY_BIND:
	case HBW_POLICY_BIND_ALL:
	case HBW_POLICY_INTERLEAVE:
		break;
	default:
		return EINVAL;
	}
	pthread_mutex_lock(&lock);
	policy_wanted = mode;
	pthread_once(&policy_once, set_policy_once);
	pthread_mutex_unlock(&lock);
	return mode == policy ? 0 : EPERM;
}

static memkind_t kind_at(int partition)
{
	return &dkm_mk_kinds[partition];
}

/* The kind hbw_* allocations of pagesize use (the policy is fixed from now on). */
static memkind_t hbw_kind(hbw_pagesize_t pagesize)
{
	bool big = pagesize == HBW_PAGESIZE_1GB || pagesize == HBW_PAGESIZE_1GB_STRICT;

	if (!atomic_load_explicit(&policy_fixed, memory_order_acquire))
		(void)hbw_set_policy(policy);
	switch (policy) {
	case HBW_POLICY_BIND:
	case HBW_POLICY_BIND_ALL:
	case HBW_POLICY_INTERLEAVE:
		if (pagesize == HBW_PAGESIZE_2MB)
			return kind_at(policy == HBW_POLICY_BIND_ALL ? MEMKIND_PARTITION_HBW_ALL_HUGETLB
								      : MEMKIND_PARTITION_HBW_HUGETLB);
		if (big)
			return kind_at(MEMKIND_PARTITION_HBW_GBTLB);
		return kind_at(policy == HBW_POLICY_BIND      ? MEMKIND_PARTITION_HBW
			       : policy == HBW_POLICY_BIND_ALL ? MEMKIND_PARTITION_HBW_ALL
							       : MEMKIND_PARTITION_HBW_INTERLEAVE);
	case HBW_POLICY_PREFERRED:
	default:
		/* MEMKIND_HBW is never available: the fallback kinds */
		if (pagesize == HBW_PAGESIZE_2MB)
			return kind_at(MEMKIND_PARTITION_HUGETLB);
		if (big)
			return kind_at(MEMKIND_PARTITION_GBTLB);
		return kind_at(MEMKIND_PARTITION_DEFAULT);
	}
}

DKM_MK_EXPORT int hbw_check_available(void)
{
	return memkind_check_available(kind_at(MEMKIND_PARTITION_HBW)) == 0 ? 0 : ENODEV;
}

/*
 * 0 if every page of the range is on a high-bandwidth node, -1 if one is not
 * (or is not populated), EINVAL/EFAULT as in memkind. With no such node, a
 * valid range is always -1.
 */
DKM_MK_EXPORT int hbw_verify_memory_region(void *addr, size_t size, int flags)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *p, *end;

	if (!addr || !size || (flags & ~HBW_TOUCH_PAGES))
		return EINVAL;
	end = (char *)addr + size;
	for (p = (char *)((uintptr_t)addr & ~(uintptr_t)(page - 1)); p < end; p += page) {
		void *pages[1] = { p };
		int node = -1;

		if (flags & HBW_TOUCH_PAGES) {
			/* the page's first byte within the range: the caller's bytes only */
			volatile char *v = p < (char *)addr ? (char *)addr : p;

			*v = *v;
		}
		if (move_pages(0, 1, pages, NULL, &node, MPOL_MF_MOVE) != 0)
			return EFAULT;
		if (node < 0)
			return -1;
	}
	return -1;
}

DKM_MK_EXPORT void *hbw_malloc(size_t size)
{
	return memkind_malloc(hbw_kind(HBW_PAGESIZE_4KB), size);
}

DKM_MK_EXPORT void *hbw_calloc(size_t num, size_t size)
{
	return memkind_calloc(hbw_kind(HBW_PAGESIZE_4KB), num, size);
}

DKM_MK_EXPORT int hbw_posix_memalign(void **memptr, size_t alignment, size_t size)
{
	return memkind_posix_memalign(hbw_kind(HBW_PAGESIZE_4KB), memptr, alignment, size);
}

DKM_MK_EXPORT int hbw_posix_memalign_psize(void **memptr, size_t alignment, size_t size,
					   hbw_pagesize_t pagesize)
{
	if ((int)pagesize < 0 || pagesize >= HBW_PAGESIZE_MAX_VALUE)
		return EINVAL;
	if (pagesize == HBW_PAGESIZE_1GB_STRICT && size % ((size_t)1 << 30))
		return EINVAL;
	if ((pagesize == HBW_PAGESIZE_2MB || pagesize == HBW_PAGESIZE_1GB_STRICT ||
	     pagesize == HBW_PAGESIZE_1GB) &&
	    hbw_get_policy() == HBW_POLICY_INTERLEAVE)
		return EINVAL;
	return memkind_posix_memalign(hbw_kind(pagesize), memptr, alignment, size);
}

DKM_MK_EXPORT void *hbw_realloc(void *ptr, size_t size)
{
	return memkind_realloc(hbw_kind(HBW_PAGESIZE_4KB), ptr, size);
}

DKM_MK_EXPORT void hbw_free(void *ptr)
{
	memkind_free(NULL, ptr);
}

DKM_MK_EXPORT size_t hbw_malloc_usable_size(void *ptr)
{
	return memkind_malloc_usable_size(NULL, ptr);
}
