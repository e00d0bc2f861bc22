/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A free block's link and key (struct dkm_block), read and written past
 * Valgrind and ASan: inline, for the fast paths and the rest alike.
 */
#ifndef DKM_CLIENT_HEAP_BLOCK_H
#define DKM_CLIENT_HEAP_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "heap-internal.h"
#include "track.h"

#pragma GCC visibility push(hidden)
extern uint64_t dkm_heap_secret; /* random, odd low bits: a key is never 0 */
#pragma GCC visibility pop

static inline uint64_t dkm_key_of(const void *b)
{
	return dkm_heap_secret ^ (uint64_t)(uintptr_t)b;
}

/* The link of a free block. */
static inline DKM_NO_ASAN struct dkm_block *dkm_blk_next_vg(const struct dkm_block *b, bool vg)
{
	struct dkm_block *n;

	dkm_vg_open(b, vg);
	n = b->next;
	dkm_vg_close(b, vg);
	return n;
}

/* Make b a free block linked to next. */
static inline DKM_NO_ASAN void dkm_blk_set_vg(struct dkm_block *b, struct dkm_block *next, bool vg)
{
	dkm_vg_open(b, vg);
	b->next = next;
	b->key = dkm_key_of(b);
	dkm_vg_close(b, vg);
}

/* The same, with the key at hand (the free fast path computed it). */
static inline DKM_NO_ASAN void dkm_blk_set_key_vg(struct dkm_block *b, struct dkm_block *next,
						  uint64_t key, bool vg)
{
	dkm_vg_open(b, vg);
	b->next = next;
	b->key = key;
	dkm_vg_close(b, vg);
}

/* A block leaves the free lists: it must not look free any more. */
static inline DKM_NO_ASAN void dkm_blk_clear_key_vg(struct dkm_block *b, bool vg)
{
	dkm_vg_open(b, vg);
	b->key = 0;
	dkm_vg_close(b, vg);
}

#define dkm_blk_next(b) dkm_blk_next_vg(b, dkm_vg)
#define dkm_blk_set(b, next) dkm_blk_set_vg(b, next, dkm_vg)
#define dkm_blk_clear_key(b) dkm_blk_clear_key_vg(b, dkm_vg)

/* The key word of b, free or handed out (not under Valgrind). */
static inline DKM_NO_ASAN uint64_t dkm_blk_key_raw(const struct dkm_block *b)
{
	return b->key;
}

/* Does b carry the key of a free block? b may be free or handed out. */
static inline DKM_NO_ASAN bool dkm_blk_keyed_vg(const struct dkm_block *b, bool vg)
{
#if DKM_HAVE_VALGRIND
	if (DKM_UNLIKELY(vg))
		return dkm_vg_read_key(b) == dkm_key_of(b);
#endif
	(void)vg;
	return b->key == dkm_key_of(b);
}

#define dkm_blk_keyed(b) dkm_blk_keyed_vg(b, dkm_vg)

#endif
