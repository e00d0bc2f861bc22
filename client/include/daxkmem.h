/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libdaxkmem-client: allocate memory from KMEM DAX NUMA nodes (persistent
 * memory or CXL memory onlined as memory-only NUMA nodes) through daxkmemd,
 * in the manner of memkind's MEMKIND_DAX_KMEM kinds.
 *
 * The library asks daxkmemd for memfd regions already bound to the right
 * node and carves allocations from them. Placement follows the allocating
 * thread: a thread running on CPU node N gets memory of N's closest KMEM
 * node(s), as the kind says, "at the time of allocation".
 *
 * Errors: functions that return pointers return NULL with errno set:
 *   ENOMEM        out of memory, or the daemon has no room on the node(s)
 *                 (its refusal was ENOSPC)
 *   EDQUOT        the user's quota at the daemon is used up
 *   ENOTCONN, ECONNREFUSED, ENOENT  no daemon to ask (it is not running)
 *   ENODEV        the machine has no KMEM node
 *   EINVAL        bad argument, or KMEM_PREFERRED with two KMEM nodes equally
 *                 close to the thread's CPU node
 * Setting DAXKMEM_LOG=1 in the environment makes the library print why on
 * standard error.
 *
 * Environment: DAXKMEM_SOCKET (daemon socket path), DAXKMEM_NODES (a node
 * list such as "2,3": the nodes to treat as KMEM nodes instead of the
 * daemon's, validated by the daemon; like MEMKIND_DAX_KMEM_NODES),
 * DAXKMEM_LOG (1: report failures on stderr).
 *
 * All functions are thread-safe. After fork() the child starts a session of
 * its own on first use; blocks it inherited stay readable and writable (and
 * freeable) but new allocations come from its own regions.
 */
#ifndef DAXKMEM_H
#define DAXKMEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocation kinds, with the semantics of memkind's MEMKIND_DAX_KMEM* kinds. */
typedef enum {
	/* Memory of the KMEM node closest to the allocating thread's CPU node, only. */
	DAXKMEM_KIND_KMEM = 1,
	/* The closest KMEM node first, then the other KMEM nodes by distance. */
	DAXKMEM_KIND_KMEM_ALL = 2,
	/* The closest KMEM node preferred; the kernel falls back to other nodes. */
	DAXKMEM_KIND_KMEM_PREFERRED = 3,
	/* For daxkmem_free, daxkmem_realloc, daxkmem_usable_size: find the kind from the pointer. */
	DAXKMEM_KIND_DETECT = 0,
} daxkmem_kind_t;

/*
 * Allocate size bytes of the kind. Returns NULL with errno set on failure.
 * A size of 0 returns a unique pointer that may be freed.
 */
void *daxkmem_malloc(daxkmem_kind_t kind, size_t size);

/* Allocate num * size bytes, zeroed; NULL/ENOMEM if the product overflows. */
void *daxkmem_calloc(daxkmem_kind_t kind, size_t num, size_t size);

/*
 * Resize ptr (allocated by this library, or NULL) to size bytes, keeping
 * its contents up to the smaller size. kind may be DAXKMEM_KIND_DETECT to
 * keep ptr's kind; a NULL ptr with DETECT is EINVAL. size 0 frees ptr and
 * returns NULL. On failure returns NULL, sets errno and leaves ptr intact.
 */
void *daxkmem_realloc(daxkmem_kind_t kind, void *ptr, size_t size);

/*
 * Allocate size bytes aligned to alignment (a power of two, multiple of
 * sizeof(void *)) into *memptr. Returns 0, EINVAL or ENOMEM/EDQUOT/... (the
 * errno values above), like posix_memalign(3); errno is not changed.
 */
int daxkmem_posix_memalign(daxkmem_kind_t kind, void **memptr, size_t alignment, size_t size);

/*
 * Free ptr (NULL is fine). kind may be DAXKMEM_KIND_DETECT. A pointer the
 * library did not hand out, or one freed already, is reported on stderr and
 * left alone (set DAXKMEM_ABORT=1 to abort instead).
 */
void daxkmem_free(daxkmem_kind_t kind, void *ptr);

/* Usable size of the block at ptr (at least what was asked), 0 for NULL or foreign pointers. */
size_t daxkmem_usable_size(daxkmem_kind_t kind, void *ptr);

/* The kind ptr was allocated with, or -1 (with errno EINVAL) if it is not the library's. */
int daxkmem_detect_kind(const void *ptr);

/*
 * 0 if the kind can be used by this thread now, or the errno that says why
 * not: ENOTCONN/ECONNREFUSED/ENOENT (no daemon), ENODEV (no KMEM node),
 * EINVAL (KMEM_PREFERRED with equally close KMEM nodes, checked for every
 * CPU node this process may run on, as memkind did at start), EDQUOT.
 * DAXKMEM_LOG=1 prints the daemon's explanation.
 */
int daxkmem_check_available(daxkmem_kind_t kind);

/* The NUMA node the page holding ptr is on now (faulting it in if needed), or -1 with errno. */
int daxkmem_node_of(const void *ptr);

/* Name of a kind ("KMEM_ALL"), or NULL. */
const char *daxkmem_kind_name(daxkmem_kind_t kind);

/* ---- Low-level regions: for programs that manage memory themselves ---- */

typedef struct daxkmem_region daxkmem_region_t;

/*
 * Get a region of size bytes (rounded up to the page size) of the kind for
 * the calling thread's CPU node, mapped read-write. prefault: 1 asks the
 * daemon to populate it first (the default policy of the daemon otherwise
 * applies with -1, and 0 leaves pages to fault in). NULL with errno on
 * failure.
 */
daxkmem_region_t *daxkmem_region_get(daxkmem_kind_t kind, size_t size, int prefault);
/* Start address and size of the mapping. */
void *daxkmem_region_addr(const daxkmem_region_t *r);
size_t daxkmem_region_size(const daxkmem_region_t *r);
/* The region's memfd (owned by the region: dup it to keep it). */
int daxkmem_region_fd(const daxkmem_region_t *r);
/* Unmap it and give it back to the daemon. NULL is fine. */
void daxkmem_region_release(daxkmem_region_t *r);

#ifdef __cplusplus
}
#endif

#endif
