/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Valgrind client requests of the allocator core's hooks (track.h), out
 * of line, and whether we run on Valgrind at all.
 */
#include "track.h"

bool dkm_vg; /* running on Valgrind (set once, before any pool exists) */

/* Client requests need stack space: they live in functions of their own. */
#if DKM_HAVE_VALGRIND
void __attribute__((noinline, cold)) dkm_vg_mempool_alloc(void *p, void *b, size_t n)
{
	VALGRIND_MEMPOOL_ALLOC(p, b, n);
}

void __attribute__((noinline, cold)) dkm_vg_mempool_free(void *p, void *b)
{
	VALGRIND_MEMPOOL_FREE(p, b);
}

void __attribute__((noinline, cold)) dkm_vg_defined(const void *a, size_t n)
{
	VALGRIND_MAKE_MEM_DEFINED(a, n);
}

void __attribute__((noinline, cold)) dkm_vg_noaccess(const void *a, size_t n)
{
	VALGRIND_MAKE_MEM_NOACCESS(a, n);
}

void __attribute__((noinline, cold)) dkm_vg_undefined(const void *a, size_t n)
{
	VALGRIND_MAKE_MEM_UNDEFINED(a, n);
}

/* The key word of b, read without a report, its state left as it was. */
uint64_t __attribute__((noinline, cold)) dkm_vg_read_key(const struct dkm_block *b)
{
	unsigned char vbits[8];
	unsigned r = VALGRIND_GET_VBITS(&b->key, vbits, 8);
	uint64_t k;

	VALGRIND_MAKE_MEM_DEFINED(&b->key, 8);
	k = b->key;
	if (r == 3)
		VALGRIND_MAKE_MEM_NOACCESS(&b->key, 8);
	else if (r == 1)
		(void)VALGRIND_SET_VBITS(&b->key, vbits, 8);
	return k;
}
#endif
