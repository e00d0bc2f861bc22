/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checks: the handler of failed assertions and the debug level the core was
 * built with; the expensive checks of a slab and a segment on their
 * transitions (debug level 2); and the full consistency walk of a pool, for
 * the unit test.
 */
#include "heap-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap-assert.h"
#include "heap-block.h"
#include "heap-class.h"
#include "heap-init.h"
#include "heap-list.h"
#include "heap-map.h"
#include "heap-segment.h"
#include "heap-slab.h"
#include "track.h"

void dkm_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "daxkmem heap: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

int dkm_heap_debug_level(void)
{
	return DKM_HEAP_DEBUG;
}

#if DKM_HEAP_DEBUG >= 2
/*
 * Expensive checks (level 2), on slab and segment transitions. A slab whose
 * owner is the calling thread (or the pool, under its lock): its free list
 * is well formed and counts carved - used blocks.
 */
bool dkm_slab_consistent(struct dkm_slab *s)
{
	struct dkm_segment *seg = dkm_seg_of(s);
	uint32_t n = 0;

	if (s->cls == DKM_CLASS_MEDIUM)
		return !s->free && dkm_slab_used(s) == s->carved && s->carved <= 1;

	for (struct dkm_block *b = s->free; b; b = dkm_blk_next(b)) {
		size_t off = (size_t)((char *)b - dkm_slab_base(seg, s));

		if ((char *)b < dkm_slab_base(seg, s) || off % s->bsize ||
		    off / s->bsize >= s->carved || !dkm_blk_keyed(b) || ++n > s->carved)
			return false;
	}
	return n + dkm_slab_used(s) == s->carved;
}

/* The slot map, the free bits and the slab count agree. */
bool dkm_segment_consistent(struct dkm_segment *seg)
{
	unsigned nslabs = 0;

	if (seg->magic != DKM_SEG_MAGIC || seg->kind != DKM_SEG_SLABS)
		return false;
	for (unsigned i = 0; i < DKM_SLOTS; i++) {
		unsigned h = seg->slot_map[i];
		bool free = (seg->free_slots >> i) & 1;

		if (free && (h != i || seg->slabs[i].carved || seg->slabs[i].bsize))
			return false;
		if (free &&
		    memcmp(&seg->geo[i], &(struct dkm_slot_geo){ .slab = dkm_slab_offset(i) },
			   sizeof(seg->geo[i])))
			return false;
		if (!free && h == i) {
			const struct dkm_slab *s = &seg->slabs[i];

			nslabs++;
			if (s->start >> DKM_SLOT_SHIFT != i)
				return false;
			for (unsigned j = i; j < i + s->nslots; j++)
				if (seg->slot_map[j] != i ||
				    seg->geo[j].start != dkm_slot_geo(s, i).start ||
				    seg->geo[j].slab != dkm_slab_offset(i) ||
				    seg->geo[j].inv != dkm_slot_geo(s, i).inv ||
				    seg->geo[j].shift != dkm_slot_geo(s, i).shift)
					return false;
		}
	}
	return nslabs == seg->nslabs && seg->in_avail == (seg->free_slots != 0);
}
#endif

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "dkm_heap_check_pool: " __VA_ARGS__); \
			fputc('\n', stderr);                                  \
			problems++;                                           \
		}                                                             \
	} while (0)

int dkm_heap_check_pool(struct dkm_pool *p)
{
	struct dkm_tcache *me = dkm_my_thread()->tc[p->id];
	size_t nseg = 0, mapped = 0, retained = 0;
	int problems = 0;

	pthread_mutex_lock(&p->lock);
	for (struct dkm_dlist *n = p->segs.next; n != &p->segs; n = n->next) {
		struct dkm_segment *seg = dkm_container_of(n, struct dkm_segment, link);
		unsigned nslabs = 0;

		nseg++;
		mapped += seg->span_size;
		CHECK(seg->magic == DKM_SEG_MAGIC && seg->kind == DKM_SEG_SLABS && seg->pool == p,
		      "segment %p: bad header", (void *)seg);
		CHECK(dkm_radix_head((uintptr_t)seg) == seg, "segment %p: not in the map",
		      (void *)seg);
		CHECK(seg->in_avail == (seg->free_slots != 0), "segment %p: avail flag",
		      (void *)seg);
		for (unsigned i = 0; i < DKM_SLOTS; i++) {
			unsigned h = seg->slot_map[i];
			struct dkm_slab *s = &seg->slabs[i];
			struct dkm_tcache *o;
			long nfree = 0;

			CHECK(((seg->free_slots >> i) & 1) ==
				      (h == i && s->bsize == 0 && s->carved == 0),
			      "segment %p slot %u: free bit", (void *)seg, i);
			if (h != i || s->bsize == 0)
				continue;
			nslabs++;
			if (s->cls == DKM_CLASS_MEDIUM) {
				CHECK(i > 0 && s->start == i << DKM_SLOT_SHIFT &&
					      s->bsize == (uint32_t)s->nslots << DKM_SLOT_SHIFT &&
					      s->nslots >= 1 && i + s->nslots <= DKM_SLOTS &&
					      s->bsize <= DKM_MEDIUM_MAX && s->carved == 1 &&
					      dkm_slab_used(s) == 1 && !s->free && !s->thread &&
					      !atomic_load_explicit(&s->owner,
								    memory_order_relaxed) &&
					      s->where == DKM_SLAB_NONE,
				      "medium block %p: geometry", (void *)dkm_slab_base(seg, s));
				continue;
			}
			CHECK(s->start >> DKM_SLOT_SHIFT == i &&
				      s->bsize == dkm_class_size[s->cls] &&
				      s->nslots == dkm_class_slots[s->cls] &&
				      s->carved <= dkm_slab_capacity(s) &&
				      dkm_slab_used(s) <= s->carved,
			      "slab %p: geometry", (void *)s);
			o = atomic_load_explicit(&s->owner, memory_order_relaxed);
			if (o && o != me)
				continue; /* another thread's: its lists are its own */
			for (struct dkm_block *b = s->free; b; b = dkm_blk_next(b)) {
				struct dkm_slab *bs = dkm_slab_lookup(seg, (uintptr_t)b);

				if (bs != s || !dkm_blk_keyed(b) || ++nfree > (long)s->carved) {
					CHECK(0, "slab %p: bad free block %p", (void *)s,
					      (void *)b);
					break;
				}
			}
			/* blocks on inboxes still count as used */
			CHECK((size_t)nfree + dkm_slab_used(s) == s->carved,
			      "slab %p (class %u): %ld free + %u used != %u carved", (void *)s,
			      s->bsize, nfree, dkm_slab_used(s), s->carved);
			if (!o) {
				bool room = s->free || s->carved < dkm_slab_capacity(s);

				CHECK(dkm_slab_used(s) > 0, "slab %p: abandoned and empty",
				      (void *)s);
				CHECK(room == (s->where == DKM_SLAB_ABANDONED),
				      "slab %p: abandoned listing", (void *)s);
			} else {
				bool full = !s->free && s->carved == dkm_slab_capacity(s);

				CHECK(s->thread == me->thread, "slab %p: thread", (void *)s);
				CHECK((s->where == DKM_SLAB_NONE) == (me->cur[s->cls] == s),
				      "slab %p: cur", (void *)s);
				CHECK(s->where == DKM_SLAB_NONE ||
					      s->where == (full ? DKM_SLAB_FULL : DKM_SLAB_PARTIAL),
				      "slab %p: listing", (void *)s);
			}
		}
		CHECK(nslabs == seg->nslabs, "segment %p: %u slabs, header says %u", (void *)seg,
		      nslabs, seg->nslabs);
		CHECK(nslabs > 0, "segment %p: empty but kept", (void *)seg);
	}
	for (struct dkm_dlist *n = p->large.next; n != &p->large; n = n->next) {
		struct dkm_segment *seg = dkm_container_of(n, struct dkm_segment, link);

		nseg++;
		mapped += seg->span_size;
		CHECK(seg->kind == DKM_SEG_LARGE && dkm_radix_head((uintptr_t)seg->block) == seg,
		      "span %p: bad", (void *)seg);
	}
	for (struct dkm_dlist *n = p->retained.next; n != &p->retained; n = n->next) {
		struct dkm_segment *seg = dkm_container_of(n, struct dkm_segment, link);

		nseg++;
		mapped += seg->span_size;
		retained += seg->span_size;
		CHECK(dkm_radix_head((uintptr_t)seg) == NULL, "retained %p: in the map",
		      (void *)seg);
	}
	CHECK(nseg == p->nsegments && mapped == p->mapped_bytes && retained == p->retained_bytes,
	      "pool counters: %zu/%zu segments, %zu/%zu bytes, %zu/%zu retained", nseg,
	      p->nsegments, mapped, p->mapped_bytes, retained, p->retained_bytes);
	CHECK(retained <= p->retain_bytes, "retained %zu > %zu", retained, p->retain_bytes);
	pthread_mutex_unlock(&p->lock);
	return problems;
}
