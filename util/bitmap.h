/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Growable bit sets for CPU and NUMA node numbers, with the kernel's list
 * syntax ("0-3,8,10-11") for input and output.
 */
#ifndef DKM_UTIL_BITMAP_H
#define DKM_UTIL_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest CPU or node number accepted from any input (Linux NR_CPUS max). */
#define DKM_BITMAP_MAX_BIT 8191

struct dkm_bitmap {
	uint64_t *words; /* bit i of the set is bit (i % 64) of words[i / 64] */
	size_t nwords;   /* words allocated; bits beyond are clear */
};

#define DKM_BITMAP_INIT { NULL, 0 }

void dkm_bitmap_clear_all(struct dkm_bitmap *b);
void dkm_bitmap_free(struct dkm_bitmap *b);
/* 0, -ENOMEM, or -ERANGE when bit is past DKM_BITMAP_MAX_BIT. */
int dkm_bitmap_set(struct dkm_bitmap *b, unsigned bit);
bool dkm_bitmap_test(const struct dkm_bitmap *b, unsigned bit);
unsigned dkm_bitmap_count(const struct dkm_bitmap *b);
bool dkm_bitmap_empty(const struct dkm_bitmap *b);
/* Next set bit at or after from, or -1. */
int dkm_bitmap_next(const struct dkm_bitmap *b, int from);
/* 0 or -ENOMEM; dst gets a copy of src. */
int dkm_bitmap_copy(struct dkm_bitmap *dst, const struct dkm_bitmap *src);
bool dkm_bitmap_equal(const struct dkm_bitmap *a, const struct dkm_bitmap *b);

#define dkm_bitmap_foreach(bit, b) \
	for ((bit) = dkm_bitmap_next((b), 0); (bit) >= 0; (bit) = dkm_bitmap_next((b), (bit) + 1))

/*
 * Parse a kernel list ("0-3,8"), ignoring surrounding white space. An empty
 * string is the empty set. Returns 0, -EINVAL on bad syntax or a reversed
 * range, -ERANGE past DKM_BITMAP_MAX_BIT, -ENOMEM. The set is replaced only
 * on success.
 */
int dkm_bitmap_parse_list(struct dkm_bitmap *b, const char *s);

/*
 * Format as a kernel list into buf ("" for the empty set). Returns the
 * length the full text needs (excluding the NUL), like snprintf.
 */
size_t dkm_bitmap_format_list(const struct dkm_bitmap *b, char *buf, size_t size);

#endif
