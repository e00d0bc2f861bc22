/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The allocator core's intrusive circular lists (struct dkm_dlist), inline. */
#ifndef DKM_CLIENT_HEAP_LIST_H
#define DKM_CLIENT_HEAP_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "heap-internal.h"

#define dkm_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void dkm_dl_init(struct dkm_dlist *h)
{
	h->prev = h->next = h;
}

static inline bool dkm_dl_empty(const struct dkm_dlist *h)
{
	return h->next == h;
}

static inline void dkm_dl_add(struct dkm_dlist *h, struct dkm_dlist *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static inline void dkm_dl_del(struct dkm_dlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#define dkm_dl_first(h, type, member) \
	(dkm_dl_empty(h) ? NULL : dkm_container_of((h)->next, type, member))

#endif
