/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Segments and spans: memory from the source (or the retained list) in
 * multiples of DKM_SEGMENT_SIZE, aligned; a new slab segment's header; an
 * emptied segment or span retained or given back to the source; the slot
 * geometry the free fast path reads.
 */
#include "heap-segment.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "heap-assert.h"
#include "heap-list.h"
#include "heap-map.h"
#include "track.h"

_Static_assert(sizeof(struct dkm_slab) == 64, "one cache line per slab descriptor");
_Static_assert(sizeof(struct dkm_segment) <= DKM_SEG_HEADER_SIZE, "slab segment header");
_Static_assert(offsetof(struct dkm_segment, slabs) <= DKM_SPAN_HEADER_SIZE, "large span header");

/* The geometry the free fast path reads, for a slot of the slab s whose first slot is i. */
struct dkm_slot_geo dkm_slot_geo(const struct dkm_slab *s, unsigned i)
{
	unsigned shift = (unsigned)__builtin_ctz(s->bsize);
	uint32_t odd = s->bsize >> shift, inv = odd;

	for (unsigned k = 0; k < 5; k++)
		inv *= 2 - odd * inv; /* Newton: 3, 6, 12, 24, 48 bits right */
	dkm_assert(odd * inv == 1);
	return (struct dkm_slot_geo){
		.start = (uint32_t)((uintptr_t)dkm_seg_of(s) + s->start),
		.inv = inv,
		.slab = dkm_slab_offset(i),
		.shift = (uint8_t)shift,
	};
}

/* Give memory back to the source. Never under the pool lock. */
static void source_unmap(struct dkm_pool *p, void *addr, size_t size, void *token)
{
	dkm_track_fresh(addr, size); /* drop poisoning before the range can be reused */
	p->src.unmap(p->src.ctx, addr, size, token);
}

/* Unmap everything on the list (segments taken off their pool). */
void dkm_unmap_list(struct dkm_pool *p, struct dkm_dlist *l)
{
	while (!dkm_dl_empty(l)) {
		struct dkm_segment *seg = dkm_container_of(l->next, struct dkm_segment, link);

		dkm_dl_del(&seg->link);
		source_unmap(p, seg, seg->span_size, seg->token);
	}
}

/*
 * Memory of size bytes from the retained list (size <= span <= max), or NULL.
 * Under the lock. The header's span_size and token describe it.
 */
static struct dkm_segment *retained_take(struct dkm_pool *p, size_t size, size_t max)
{
	for (struct dkm_dlist *n = p->retained.next; n != &p->retained; n = n->next) {
		struct dkm_segment *seg = dkm_container_of(n, struct dkm_segment, link);

		if (seg->span_size >= size && seg->span_size <= max) {
			dkm_dl_del(&seg->link);
			p->retained_bytes -= seg->span_size;
			return seg;
		}
	}
	return NULL;
}

/*
 * An emptied segment or span, already out of the radix map and of its lists:
 * keep it within retain_bytes, or queue it on unmap for source_unmap after
 * the lock is dropped. Under the lock.
 */
void dkm_segment_retire(struct dkm_pool *p, struct dkm_segment *seg, struct dkm_dlist *unmap)
{
	if (p->retained_bytes + seg->span_size <= p->retain_bytes) {
		dkm_dl_add(&p->retained, &seg->link);
		p->retained_bytes += seg->span_size;
		return;
	}
	p->nsegments--;
	p->mapped_bytes -= seg->span_size;
	dkm_dl_add(unmap, &seg->link);
}

/*
 * size bytes (a multiple of the segment size) from the retained list or the
 * source. Called and returns with the lock held; drops it while mapping.
 * NULL with errno.
 */
struct dkm_segment *dkm_span_get(struct dkm_pool *p, size_t size, size_t max)
{
	struct dkm_segment *seg = retained_take(p, size, max);
	struct dkm_dlist purge;
	void *token = NULL, *m;
	int err;

	if (seg)
		return seg;
	dkm_dl_init(&purge);
	pthread_mutex_unlock(&p->lock);
	m = p->src.map(p->src.ctx, size, &token);
	err = errno;
	pthread_mutex_lock(&p->lock);
	if (!m && !dkm_dl_empty(&p->retained)) {
		/* short of memory: give back what we keep, try once more */
		while (!dkm_dl_empty(&p->retained)) {
			seg = dkm_container_of(p->retained.next, struct dkm_segment, link);
			dkm_dl_del(&seg->link);
			p->retained_bytes -= seg->span_size;
			p->nsegments--;
			p->mapped_bytes -= seg->span_size;
			dkm_dl_add(&purge, &seg->link);
		}
		pthread_mutex_unlock(&p->lock);
		dkm_unmap_list(p, &purge);
		m = p->src.map(p->src.ctx, size, &token);
		err = errno;
		pthread_mutex_lock(&p->lock);
	}
	if (!m) {
		errno = err ? err : ENOMEM;
		return NULL;
	}
	dkm_assert(((uintptr_t)m & (DKM_SEGMENT_SIZE - 1)) == 0);
	seg = m;
	dkm_track_fresh(seg, DKM_SEG_HEADER_SIZE);
	seg->span_size = size;
	seg->token = token;
	p->nsegments++;
	p->mapped_bytes += size;
	return seg;
}

/* A new slab segment for p, on segs and avail. Under the lock (dropped while mapping). */
struct dkm_segment *dkm_segment_new(struct dkm_pool *p)
{
	struct dkm_segment *seg = dkm_span_get(p, DKM_SEGMENT_SIZE, DKM_SEGMENT_SIZE);
	size_t span;
	void *token;

	if (!seg)
		return NULL;
	span = seg->span_size;
	token = seg->token;
	dkm_track_fresh(seg, DKM_SEG_HEADER_SIZE);
	memset(seg, 0, DKM_SEG_HEADER_SIZE);
	for (unsigned i = 0; i < DKM_SLOTS; i++) {
		seg->slot_map[i] = (uint8_t)i; /* a free slot: its own zeroed descriptor */
		seg->geo[i] = dkm_slot_geo_free(i);
	}
	seg->pool = p;
	seg->pool_id = p->id;
	seg->kind = DKM_SEG_SLABS;
	seg->magic = DKM_SEG_MAGIC;
	seg->span_size = span;
	seg->token = token;
	seg->free_slots = ~(uint64_t)0;
	dkm_dl_init(&seg->link);
	dkm_dl_init(&seg->alink);
	if (dkm_radix_set(seg, 1, true) < 0) {
		struct dkm_dlist l;

		dkm_dl_init(&l);
		dkm_segment_retire(p, seg, &l);
		pthread_mutex_unlock(&p->lock);
		dkm_unmap_list(p, &l);
		pthread_mutex_lock(&p->lock);
		errno = ENOMEM;
		return NULL;
	}
	dkm_fastmap_set(seg, true);
	dkm_dl_add(&p->segs, &seg->link);
	dkm_dl_add(&p->avail, &seg->alink);
	seg->in_avail = 1;
	return seg;
}
