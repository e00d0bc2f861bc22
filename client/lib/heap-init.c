/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The allocator core's global state and its initialisation: the empty slab,
 * cache and thread, the calling thread's caches, the registries, the secret
 * of free block keys; the memory thread and cache structures come from; and
 * what a child forgets after fork().
 */
#include "heap-init.h"

#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "heap-block.h"
#include "heap-class.h"
#include "heap-list.h"

struct dkm_slab dkm_empty_slab; /* free == NULL: the fast path falls through */
struct dkm_tcache dkm_empty_tcache = {
	.uid = 0,
	.cur = { [0 ... DKM_NCLASSES - 1] = &dkm_empty_slab },
	.inbox = DKM_INBOX_DEAD,
};
struct dkm_thread dkm_empty_thread = {
	.tc = { [0 ... DKM_HEAP_NO_POOL] = &dkm_empty_tcache },
};
/*
 * The calling thread's caches; &dkm_empty_thread until its first slow path.
 * Under Valgrind they are kept in dkm_tls_thread_vg instead, so that the
 * malloc fast path, finding no block in &dkm_empty_thread, always takes the
 * slow path, which has the client requests (and the free fast path never
 * runs: no dkm_fastmap).
 */
__thread struct dkm_thread *dkm_tls_thread __attribute__((tls_model("initial-exec"))) =
	&dkm_empty_thread;
__thread struct dkm_thread *dkm_tls_thread_vg __attribute__((tls_model("initial-exec"))) =
	&dkm_empty_thread;

uint64_t dkm_heap_secret; /* random, odd low bits: a key is never 0 */

static pthread_once_t heap_once = PTHREAD_ONCE_INIT;
pthread_mutex_t dkm_registry_lock = PTHREAD_MUTEX_INITIALIZER; /* taken before pool locks */
struct dkm_pool *dkm_registry[DKM_HEAP_MAX_POOLS];              /* live pools by id */
struct dkm_dlist dkm_threads = { &dkm_threads, &dkm_threads };  /* live dkm_threads */

static void heap_init(void)
{
	uint64_t r = 0;

	dkm_classes_init();
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&r ^
		    ((uint64_t)getpid() << 17);
	}
	dkm_heap_secret = r | 5; /* block addresses are 16-aligned: key != 0 */
#if DKM_HAVE_VALGRIND
	dkm_vg = RUNNING_ON_VALGRIND != 0;
#endif
}

void dkm_heap_init_once(void)
{
	pthread_once(&heap_once, heap_init);
}

/*
 * Thread and cache structures come from anonymous memory and are recycled,
 * never unmapped: another thread may still hold a stale pointer to a cache
 * (as a slab's owner) and push onto its inbox.
 */
static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static char *meta_cur, *meta_end;               /* bump area, under meta_lock */
static struct dkm_thread *thread_recycle;       /* under meta_lock */
static struct dkm_tcache *tcache_recycle;       /* under meta_lock */

#define META_CHUNK ((size_t)256 << 10)

static void *meta_bump(size_t size)
{
	void *r;

	size = (size + 63) & ~(size_t)63;
	if ((size_t)(meta_end - meta_cur) < size) {
		void *m = mmap(NULL, META_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (m == MAP_FAILED)
			return NULL;
		meta_cur = m;
		meta_end = meta_cur + META_CHUNK;
	}
	r = meta_cur;
	meta_cur += size;
	return r;
}

struct dkm_thread *dkm_thread_alloc(void)
{
	struct dkm_thread *t;

	pthread_mutex_lock(&meta_lock);
	t = thread_recycle;
	if (t)
		thread_recycle = t->recycle;
	else
		t = meta_bump(sizeof(*t));
	pthread_mutex_unlock(&meta_lock);
	if (!t)
		return NULL;
	for (unsigned i = 0; i <= DKM_HEAP_NO_POOL; i++)
		t->tc[i] = &dkm_empty_tcache;
	t->recycle = NULL;
	pthread_mutex_lock(&dkm_registry_lock);
	dkm_dl_add(&dkm_threads, &t->link);
	pthread_mutex_unlock(&dkm_registry_lock);
	return t;
}

void dkm_thread_recycle_put(struct dkm_thread *t)
{
	pthread_mutex_lock(&meta_lock);
	t->recycle = thread_recycle;
	thread_recycle = t;
	pthread_mutex_unlock(&meta_lock);
}

struct dkm_tcache *dkm_tcache_alloc(void)
{
	struct dkm_tcache *tc;

	pthread_mutex_lock(&meta_lock);
	tc = tcache_recycle;
	if (tc)
		tcache_recycle = tc->recycle;
	else
		tc = meta_bump(sizeof(*tc));
	pthread_mutex_unlock(&meta_lock);
	return tc;
}

/* Its inbox is DEAD: stale pushers go elsewhere until it serves a pool again. */
void dkm_tcache_recycle_put(struct dkm_tcache *tc)
{
	tc->uid = 0;
	pthread_mutex_lock(&meta_lock);
	tc->recycle = tcache_recycle;
	tcache_recycle = tc;
	pthread_mutex_unlock(&meta_lock);
}

void dkm_heap_fork_child(void)
{
	/* only this thread survives; locks held by others at fork() stay held: reset them */
	dkm_tls_thread = &dkm_empty_thread;
	dkm_tls_thread_vg = &dkm_empty_thread;
	dkm_registry_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	meta_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	thread_recycle = NULL;
	tcache_recycle = NULL;
	meta_cur = meta_end = NULL;
	dkm_dl_init(&dkm_threads); /* the parent's threads are not ours */
	for (unsigned i = 0; i < DKM_HEAP_MAX_POOLS; i++) {
		struct dkm_pool *p = dkm_registry[i];

		if (!p)
			continue;
		p->inherited = true;
		p->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	}
}
