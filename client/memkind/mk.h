/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside the memkind drop-in (libmemkind.so.0 built on libdaxkmem-client).
 *
 *   kinds.c    the built-in kinds, the kind variables, kind management,
 *              errors, version, statistics
 *   alloc.c    the heap functions: each kind's class decides which
 *              allocator serves it; frees and lookups go by the pointer
 *   dax.c      the DAX_KMEM kinds' way to daxkmemd: MEMKIND_DAX_KMEM_NODES,
 *              a bounded probe of the daemon, capacity
 *   regular.c  MEMKIND_REGULAR: memory bound to the nodes with CPUs
 *   hbw.c      <hbwmalloc.h>, over the kinds
 */
#ifndef DKM_MEMKIND_MK_H
#define DKM_MEMKIND_MK_H

#include <stdbool.h>
#include <stddef.h>

#include "daxkmem.h"
#include "memkind-abi.h"

/* How a kind is served. */
enum dkm_mk_class {
	DKM_MK_SYSTEM,      /* the process's malloc (MEMKIND_DEFAULT) */
	DKM_MK_REGULAR,     /* regular.c */
	DKM_MK_DAX,         /* libdaxkmem-client, kind dax */
	DKM_MK_UNAVAILABLE, /* never served: check_available says unavailable */
};

struct memkind {
	const char *name;          /* memkind's name of the kind ("memkind_dax_kmem") */
	enum dkm_mk_class cls;
	daxkmem_kind_t dax;        /* DKM_MK_DAX: the daxkmem kind */
	int unavailable;           /* DKM_MK_UNAVAILABLE: what check_available returns */
	int capacity;              /* DKM_MK_UNAVAILABLE: memkind_get_capacity (-1 or 0) */
};

/* The built-in kinds, indexed by partition (enum memkind_base_partition). */
extern struct memkind dkm_mk_kinds[MEMKIND_NUM_BASE_KIND];

/* kind is one of ours (NULL is not). */
static inline bool dkm_mk_valid(memkind_t kind)
{
	return kind >= &dkm_mk_kinds[0] && kind < &dkm_mk_kinds[MEMKIND_NUM_BASE_KIND];
}

/* The kind a daxkmem kind maps to. */
memkind_t dkm_mk_from_dax(int dax_kind);

/* Report on stderr when DAXKMEM_LOG asks for it (as libdaxkmem-client does). */
void dkm_mk_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- dax.c ---- */
/*
 * The DAX kinds can be used: MEMKIND_DAX_KMEM_NODES parsed and the daemon
 * answered the probe. Decided once per process, at the first call; then a
 * load. Otherwise the memkind error (MEMKIND_ERROR_ENVIRON or
 * MEMKIND_ERROR_UNAVAILABLE), reported once with DAXKMEM_LOG=1.
 */
int dkm_mk_dax_ready(void);
/* Capacity of the KMEM nodes a DAX kind uses (daemon STATUS), or -1. */
ssize_t dkm_mk_dax_capacity(memkind_t kind);

/* ---- regular.c ---- */
/* 0, or the memkind error why REGULAR cannot be served (no node with CPUs and memory). */
int dkm_mk_regular_check(void);
/* As malloc/posix_memalign (align a power of two); NULL with errno ENOMEM. */
void *dkm_mk_regular_alloc(size_t size, size_t align);
/* ptr is a block REGULAR handed out (NULL is not); never touches foreign memory. */
bool dkm_mk_regular_owns(const void *ptr);
/* For a block it owns. */
void dkm_mk_regular_free(void *ptr);
size_t dkm_mk_regular_usable_size(const void *ptr);
/* Bytes of memory on REGULAR's nodes, or -1. */
ssize_t dkm_mk_regular_capacity(void);

#endif
