/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Growable bitmaps for node and CPU sets (bitmap.h): the bit operations,
 * and parsing and printing the kernel's list format ("0-3,8").
 */
#include "bitmap.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dkm_bitmap_clear_all(struct dkm_bitmap *b)
{
	if (b->words)
		memset(b->words, 0, b->nwords * sizeof(*b->words));
}

void dkm_bitmap_free(struct dkm_bitmap *b)
{
	free(b->words);
	b->words = NULL;
	b->nwords = 0;
}

static int grow(struct dkm_bitmap *b, size_t nwords)
{
	uint64_t *w;

	if (nwords <= b->nwords)
		return 0;
	w = realloc(b->words, nwords * sizeof(*w));
	if (!w)
		return -ENOMEM;
	memset(w + b->nwords, 0, (nwords - b->nwords) * sizeof(*w));
	b->words = w;
	b->nwords = nwords;
	return 0;
}

int dkm_bitmap_set(struct dkm_bitmap *b, unsigned bit)
{
	int r;

	if (bit > DKM_BITMAP_MAX_BIT)
		return -ERANGE;
	r = grow(b, bit / 64 + 1);
	if (r < 0)
		return r;
	b->words[bit / 64] |= UINT64_C(1) << (bit % 64);
	return 0;
}

bool dkm_bitmap_test(const struct dkm_bitmap *b, unsigned bit)
{
	if (bit / 64 >= b->nwords)
		return false;
	return (b->words[bit / 64] >> (bit % 64)) & 1;
}

unsigned dkm_bitmap_count(const struct dkm_bitmap *b)
{
	unsigned n = 0;

	for (size_t i = 0; i < b->nwords; i++)
		n += (unsigned)__builtin_popcountll(b->words[i]);
	return n;
}

bool dkm_bitmap_empty(const struct dkm_bitmap *b)
{
	return dkm_bitmap_next(b, 0) < 0;
}

int dkm_bitmap_next(const struct dkm_bitmap *b, int from)
{
	size_t i;
	uint64_t w;

	if (from < 0)
		from = 0;
	i = (size_t)from / 64;
	if (i >= b->nwords)
		return -1;
	w = b->words[i] & (~UINT64_C(0) << (from % 64));
	for (;;) {
		if (w)
			return (int)(i * 64 + (size_t)__builtin_ctzll(w));
		if (++i >= b->nwords)
			return -1;
		w = b->words[i];
	}
}

int dkm_bitmap_copy(struct dkm_bitmap *dst, const struct dkm_bitmap *src)
{
	int r = grow(dst, src->nwords);

	if (r < 0)
		return r;
	dkm_bitmap_clear_all(dst);
	if (src->nwords)
		memcpy(dst->words, src->words, src->nwords * sizeof(*src->words));
	return 0;
}

bool dkm_bitmap_equal(const struct dkm_bitmap *a, const struct dkm_bitmap *b)
{
	size_t n = a->nwords > b->nwords ? a->nwords : b->nwords;

	for (size_t i = 0; i < n; i++) {
		uint64_t wa = i < a->nwords ? a->words[i] : 0;
		uint64_t wb = i < b->nwords ? b->words[i] : 0;

		if (wa != wb)
			return false;
	}
	return true;
}

static int parse_num(const char **p, unsigned *ret)
{
	unsigned long v = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > DKM_BITMAP_MAX_BIT)
			return -ERANGE;
		s++;
	}
	*p = s;
	*ret = (unsigned)v;
	return 0;
}

int dkm_bitmap_parse_list(struct dkm_bitmap *b, const char *s)
{
	struct dkm_bitmap tmp = DKM_BITMAP_INIT;
	int r = 0;

	while (isspace((unsigned char)*s))
		s++;
	while (*s && !isspace((unsigned char)*s)) {
		unsigned lo, hi;

		r = parse_num(&s, &lo);
		if (r < 0)
			goto out;
		hi = lo;
		if (*s == '-') {
			s++;
			r = parse_num(&s, &hi);
			if (r < 0)
				goto out;
			if (hi < lo) {
				r = -EINVAL;
				goto out;
			}
		}
		for (unsigned i = lo; i <= hi; i++) {
			r = dkm_bitmap_set(&tmp, i);
			if (r < 0)
				goto out;
		}
		if (*s == ',') {
			s++;
			if (!isdigit((unsigned char)*s)) {
				r = -EINVAL;
				goto out;
			}
		} else if (*s && !isspace((unsigned char)*s)) {
			r = -EINVAL;
			goto out;
		}
	}
	while (isspace((unsigned char)*s))
		s++;
	if (*s) {
		r = -EINVAL;
		goto out;
	}
	dkm_bitmap_free(b);
	*b = tmp;
	return 0;
out:
	dkm_bitmap_free(&tmp);
	return r;
}

size_t dkm_bitmap_format_list(const struct dkm_bitmap *b, char *buf, size_t size)
{
	size_t len = 0;
	int bit;

	if (size)
		buf[0] = '\0';
	bit = dkm_bitmap_next(b, 0);
	while (bit >= 0) {
		int end = bit;
		char part[32];
		int n;

		while (dkm_bitmap_test(b, (unsigned)end + 1))
			end++;
		if (end == bit)
			n = snprintf(part, sizeof(part), "%s%d", len ? "," : "", bit);
		else
			n = snprintf(part, sizeof(part), "%s%d-%d", len ? "," : "", bit, end);
		if (len + (size_t)n < size)
			memcpy(buf + len, part, (size_t)n + 1);
		else if (size && len < size)
			buf[len] = '\0';
		len += (size_t)n;
		bit = dkm_bitmap_next(b, end + 1);
	}
	return len;
}
