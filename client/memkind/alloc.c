/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The heap functions of memkind 1.14. A kind's class picks the allocator
 * that serves a new block; frees, size queries, kind detection and the old
 * block of a realloc go by the pointer: the allocator that handed it out is
 * found from the pointer itself (libdaxkmem-client's and REGULAR's lookups
 * never touch foreign memory), anything else being the system allocator's.
 * So a kind argument that does not match the block, which memkind leaves
 * undefined, still frees the block with its own allocator.
 *
 * memkind's conventions kept here (memkind(3)): a size of 0 allocates
 * nothing and returns NULL; failures return NULL with errno ENOMEM (the
 * reason of a DAX kind's failure is printed with DAXKMEM_LOG=1); success
 * leaves errno alone; posix_memalign returns EINVAL/ENOMEM without touching
 * errno.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mk.h"

#define DKM_LIKELY(x) __builtin_expect(!!(x), 1)

/* Who handed a block out. */
enum owner {
	OWN_SYSTEM,
	OWN_REGULAR,
	OWN_DAX,
};

/* The allocator of ptr (not NULL); *dax_kind set for OWN_DAX. errno untouched. */
static enum owner owner_of(const void *ptr, int *dax_kind)
{
	int saved = errno, k = daxkmem_detect_kind(ptr);

	errno = saved;
	if (k > 0) {
		*dax_kind = k;
		return OWN_DAX;
	}
	if (dkm_mk_regular_owns(ptr))
		return OWN_REGULAR;
	return OWN_SYSTEM;
}

static memkind_t owner_kind(enum owner o, int dax_kind)
{
	switch (o) {
	case OWN_DAX:
		return dkm_mk_from_dax(dax_kind);
	case OWN_REGULAR:
		return &dkm_mk_kinds[MEMKIND_PARTITION_REGULAR];
	case OWN_SYSTEM:
	default:
		return &dkm_mk_kinds[MEMKIND_PARTITION_DEFAULT];
	}
}

static size_t owner_usable_size(enum owner o, void *ptr)
{
	switch (o) {
	case OWN_DAX:
		return daxkmem_usable_size(DAXKMEM_KIND_DETECT, ptr);
	case OWN_REGULAR:
		return dkm_mk_regular_usable_size(ptr);
	case OWN_SYSTEM:
	default:
		return malloc_usable_size(ptr);
	}
}

static void owner_free(enum owner o, void *ptr)
{
	switch (o) {
	case OWN_DAX:
		daxkmem_free(DAXKMEM_KIND_DETECT, ptr);
		break;
	case OWN_REGULAR:
		dkm_mk_regular_free(ptr);
		break;
	case OWN_SYSTEM:
	default:
		free(ptr);
		break;
	}
}

/* A new block of size > 0 bytes of a valid kind (zeroed if zero); NULL with errno ENOMEM. */
static void *kind_alloc(memkind_t kind, size_t size, bool zero)
{
	int saved = errno;
	void *p = NULL;

	switch (kind->cls) {
	case DKM_MK_SYSTEM:
		/* beyond PTRDIFF_MAX the C library fails too; memory checkers call such sizes errors */
		if (size <= PTRDIFF_MAX)
			p = zero ? calloc(1, size) : malloc(size);
		break;
	case DKM_MK_REGULAR:
		p = dkm_mk_regular_alloc(size, 0);
		if (p && zero)
			memset(p, 0, size);
		break;
	case DKM_MK_DAX:
		if (dkm_mk_dax_ready() == 0)
			p = zero ? daxkmem_calloc(kind->dax, 1, size) : daxkmem_malloc(kind->dax, size);
		break;
	case DKM_MK_UNAVAILABLE:
		break;
	}
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	errno = saved;
	return p;
}

DKM_MK_EXPORT void *memkind_malloc(memkind_t kind, size_t size)
{
	if (!dkm_mk_valid(kind)) {
		errno = EINVAL;
		return NULL;
	}
	if (!size)
		return NULL;
	return kind_alloc(kind, size, false);
}

DKM_MK_EXPORT void *memkind_calloc(memkind_t kind, size_t num, size_t size)
{
	size_t total;

	if (!dkm_mk_valid(kind)) {
		errno = EINVAL;
		return NULL;
	}
	if (!num || !size)
		return NULL;
	if (__builtin_mul_overflow(num, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return kind_alloc(kind, total, true);
}

DKM_MK_EXPORT int memkind_posix_memalign(memkind_t kind, void **memptr, size_t alignment,
					 size_t size)
{
	bool bad_alignment = alignment < sizeof(void *) || (alignment & (alignment - 1));
	int saved = errno, r = ENOMEM;
	void *p = NULL;

	if (!memptr || !dkm_mk_valid(kind))
		return EINVAL;
	if (kind->cls == DKM_MK_SYSTEM) {
		/*
		 * memkind's DEFAULT answers as jemalloc's posix_memalign: a size of 0
		 * first (NULL, whatever the alignment), and *memptr untouched on
		 * errors, which is also what the C library does.
		 */
		if (!size) {
			*memptr = NULL;
			return 0;
		}
		if (bad_alignment)
			return EINVAL;
		if (size > PTRDIFF_MAX)
			return ENOMEM;
		r = posix_memalign(memptr, alignment, size);
		errno = saved;
		return r;
	}
	/* memkind's other kinds clear *memptr first, then check the alignment, then the size. */
	*memptr = NULL;
	if (bad_alignment)
		return EINVAL;
	if (!size)
		return 0;
	switch (kind->cls) {
	case DKM_MK_REGULAR:
		p = dkm_mk_regular_alloc(size, alignment);
		r = p ? 0 : ENOMEM;
		break;
	case DKM_MK_DAX:
		if (dkm_mk_dax_ready() == 0 &&
		    daxkmem_posix_memalign(kind->dax, &p, alignment, size) == 0)
			r = 0;
		break;
	case DKM_MK_SYSTEM:
	case DKM_MK_UNAVAILABLE:
		break;
	}
	if (r == 0)
		*memptr = p;
	errno = saved;
	return r;
}

DKM_MK_EXPORT void memkind_free(memkind_t kind, void *ptr)
{
	int saved = errno, dk = 0;

	(void)kind; /* the block's own allocator frees it */
	if (!ptr)
		return;
	owner_free(owner_of(ptr, &dk), ptr);
	errno = saved;
}

DKM_MK_EXPORT size_t memkind_malloc_usable_size(memkind_t kind, void *ptr)
{
	int saved = errno, dk = 0;
	size_t n;

	(void)kind;
	if (!ptr)
		return 0;
	n = owner_usable_size(owner_of(ptr, &dk), ptr);
	errno = saved;
	return n;
}

DKM_MK_EXPORT memkind_t memkind_detect_kind(void *ptr)
{
	int dk = 0;
	enum owner o;

	if (!ptr)
		return NULL;
	o = owner_of(ptr, &dk);
	return owner_kind(o, dk);
}

DKM_MK_EXPORT void *memkind_realloc(memkind_t kind, void *ptr, size_t size)
{
	int saved = errno, dk = 0;
	size_t old;
	enum owner o;
	void *n;

	if (!ptr) {
		if (!kind) {
			errno = EINVAL;
			return NULL;
		}
		return memkind_malloc(kind, size);
	}
	if (!size) {
		memkind_free(kind, ptr);
		return NULL;
	}
	o = owner_of(ptr, &dk);
	if (!kind)
		kind = owner_kind(o, dk);
	if (!dkm_mk_valid(kind)) {
		errno = EINVAL;
		return NULL;
	}
	/* The same allocator resizes in place where it can. */
	if (kind->cls == DKM_MK_SYSTEM && o == OWN_SYSTEM) {
		n = size <= PTRDIFF_MAX ? realloc(ptr, size) : NULL;
		errno = n ? saved : ENOMEM;
		return n;
	}
	if (kind->cls == DKM_MK_DAX && o == OWN_DAX) {
		/* daxkmem_realloc moves the block when the DAX kind differs */
		n = daxkmem_realloc(kind->dax, ptr, size);
		errno = n ? saved : ENOMEM;
		return n;
	}
	old = owner_usable_size(o, ptr);
	if (kind->cls == DKM_MK_REGULAR && o == OWN_REGULAR && size <= old && size >= old / 2)
		return ptr;
	/* Another allocator, or REGULAR growing: a new block, the contents, the old one freed. */
	n = kind_alloc(kind, size, false);
	if (!n)
		return NULL; /* ptr stays valid */
	memcpy(n, ptr, size < old ? size : old);
	owner_free(o, ptr);
	errno = saved;
	return n;
}

/* Blocks are not moved to compact a heap: NULL is memkind's "a move is not worthwhile". */
DKM_MK_EXPORT void *memkind_defrag_reallocate(memkind_t kind, void *ptr)
{
	(void)kind;
	(void)ptr;
	return NULL;
}
