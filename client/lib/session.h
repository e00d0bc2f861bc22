/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library's session with daxkmemd: one connection per process (shared
 * by its threads, used only on slow paths), the map from CPUs to CPU nodes,
 * and one allocator pool per (kind, CPU node) whose source is the daemon.
 */
#ifndef DKM_CLIENT_SESSION_H
#define DKM_CLIENT_SESSION_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>

#include "heap.h"

#define DKM_NKINDS 4          /* indexes 1..3 are the kinds */
#define DKM_MAX_CPU_NODES 1024 /* node ids the library can place for (DKM_PROTO_MAX_NODES) */

/* The pool for kind on the CPU node the calling thread runs on; NULL with errno. */
struct dkm_pool *dkm_session_pool(unsigned kind);
/*
 * The session owns the fork handling (its pthread_atfork handlers). In the
 * child after fork(), its handler calls fn before the heap forgets its
 * caches: for the caller's per-thread state (the pools daxkmem.c remembers;
 * it sets the one hook when the library is loaded).
 */
void dkm_session_set_fork_hook(void (*fn)(void));
/* The CPU node of the calling thread, or a negative errno (no session). */
int dkm_session_cpu_node(void);
/* 0 if kind works from every CPU node this process may run on, or the errno why not. */
int dkm_session_check(unsigned kind);

/* A region of the low-level API: mapped, with the daemon's id. */
struct dkm_session_region {
	void *addr;
	size_t size;
	int fd;
	unsigned long long id;
	int pid;               /* process that asked for it: a forked child must not release it */
};
/*
 * Ask the daemon for a region of kind for the calling thread's CPU node,
 * mapped at an address aligned to align (0: page). prefault -1 daemon
 * default, 0 no, 1 yes. 0 with *ret set, or a negative errno (ENOSPC
 * becomes -ENOMEM). In a child after fork, regions the parent had keep
 * their mapping (as a private copy) and have fd -1.
 */
int dkm_session_region_get(unsigned kind, size_t size, size_t align, int prefault,
			   struct dkm_session_region **ret);
/* Unmap, release to the daemon (if this process asked for it), free. */
void dkm_session_region_put(struct dkm_session_region *r);

/* Report a failure on stderr when DAXKMEM_LOG asks for it. */
void dkm_log_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report misuse (bad free) always; abort when DAXKMEM_ABORT=1. */
void dkm_report_misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
