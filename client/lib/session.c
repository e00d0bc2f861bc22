/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "session.h"

#include <errno.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conn.h"
#include "util/bitmap.h"

/* A pool's identity, the ctx of its source. */
struct kpool {
	unsigned kind;
	int node;
};

/* A mapped region, on the session's list until it is put back. */
struct region {
	struct dkm_session_region r;
	unsigned generation;         /* session it was granted in */
	struct region *prev, *next;
};

/*
 * Session state. lock guards everything but the two tables read on the fast
 * path (cpu2node and pools), which are published with release stores and
 * never freed while the process runs (a child after fork replaces pools).
 */
static struct {
	pthread_mutex_t lock;
	struct dkm_conn *conn;          /* NULL until connected (again) */
	unsigned generation;            /* bumped at every (re)connection and fork */
	int last_err;                   /* why the last connection attempt failed */
	struct dkm_nodeset override;    /* DAXKMEM_NODES */
	int override_err;               /* DAXKMEM_NODES did not parse: -EINVAL */
	int prefault;                   /* DAXKMEM_PREFAULT: -1 daemon default, 0, 1 */
	size_t retain;                  /* DAXKMEM_RETAIN: bytes of empty segments kept per pool */
	int log;                        /* DAXKMEM_LOG */
	int abort_on_misuse;            /* DAXKMEM_ABORT */
	bool env_read;
	bool atfork_set;
	struct region *regions;         /* every region mapped now */
	_Atomic(int *) cpu2node;        /* CPU number -> CPU node */
	_Atomic int ncpus;              /* entries of cpu2node */
	_Atomic(struct dkm_pool *) pools[DKM_NKINDS][DKM_MAX_CPU_NODES];
	struct kpool kp[DKM_NKINDS][DKM_MAX_CPU_NODES];
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .prefault = -1 };

static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

/* ======================================================================
 * Reporting
 * ====================================================================== */

void dkm_log_failure(const char *fmt, ...)
{
	va_list ap;

	if (!S.log)
		return;
	va_start(ap, fmt);
	fputs("libdaxkmem-client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void dkm_report_misuse(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("libdaxkmem-client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (S.abort_on_misuse)
		abort();
}

/* ======================================================================
 * Environment and fork
 * ====================================================================== */

static void read_env(void)
{
	const char *s;

	if (S.env_read)
		return;
	S.env_read = true;
	s = secure_getenv("DAXKMEM_LOG");
	S.log = s && *s && strcmp(s, "0");
	s = secure_getenv("DAXKMEM_ABORT");
	S.abort_on_misuse = s && *s && strcmp(s, "0");
	s = secure_getenv("DAXKMEM_PREFAULT");
	if (s && *s)
		S.prefault = strcmp(s, "0") != 0;
	S.retain = 16u << 20;
	s = secure_getenv("DAXKMEM_RETAIN");
	if (s && *s) {
		char *end;
		unsigned long long v = strtoull(s, &end, 10);

		if (!*end)
			S.retain = (size_t)v;
	}
	s = secure_getenv("DAXKMEM_NODES");
	if (s && *s) {
		struct dkm_bitmap b = DKM_BITMAP_INIT;
		int bit;

		if (dkm_bitmap_parse_list(&b, s) < 0 || dkm_bitmap_next(&b, DKM_PROTO_MAX_NODES) >= 0) {
			S.override_err = -EINVAL;
			dkm_log_failure("DAXKMEM_NODES=\"%s\" is not a node list like 2,3 or 2-3", s);
		} else {
			dkm_bitmap_foreach(bit, &b)
				dkm_nodeset_set(&S.override, (unsigned)bit);
		}
		dkm_bitmap_free(&b);
	}
}

static void (*fork_hook)(void); /* see dkm_session_set_fork_hook */

void dkm_session_set_fork_hook(void (*fn)(void))
{
	fork_hook = fn;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&S.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&S.lock);
}

/*
 * The child shares the parent's regions (MAP_SHARED) and connection. It
 * must not touch either: its view of every region becomes a private copy,
 * the parent's pools are frozen, and the child starts a session of its own
 * on first use.
 */
static void atfork_child(void)
{
	for (struct region *r = S.regions; r; r = r->next) {
		if (r->r.fd >= 0) {
			mmap(r->r.addr, r->r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
			     r->r.fd, 0);
			close(r->r.fd);
			r->r.fd = -1;
		}
	}
	S.regions = NULL; /* the parent's: never released from here */
	if (S.conn) {
		dkm_conn_close(S.conn); /* closes the child's copy of the socket only */
		S.conn = NULL;
	}
	S.generation++;
	if (fork_hook)
		fork_hook();
	dkm_heap_fork_child();
	for (unsigned k = 0; k < DKM_NKINDS; k++)
		for (unsigned n = 0; n < DKM_MAX_CPU_NODES; n++)
			atomic_store_explicit(&S.pools[k][n], NULL, memory_order_relaxed);
	pthread_mutex_unlock(&S.lock);
}

static void thread_exit(void *arg)
{
	(void)arg;
	dkm_heap_thread_flush();
}

static void make_thread_key(void)
{
	(void)pthread_key_create(&thread_key, thread_exit);
}

/* Ask for dkm_heap_thread_flush at the calling thread's exit. */
static void register_thread(void)
{
	static __thread bool registered;

	if (registered)
		return;
	pthread_once(&thread_key_once, make_thread_key);
	(void)pthread_setspecific(thread_key, (void *)1);
	registered = true;
}

/* ======================================================================
 * Connection
 * ====================================================================== */

/* Build the CPU -> node table from the daemon's STATUS. Under lock. */
static int load_cpu_map(void)
{
	struct dkm_status st;
	struct dkm_msg m;
	int ncpus = (int)sysconf(_SC_NPROCESSORS_CONF), r;
	int *table;

	r = dkm_conn_status(S.conn, &m);
	if (r < 0)
		return r;
	if (ncpus < 1)
		ncpus = 1;
	memcpy(&st, m.payload, sizeof(st));
	for (unsigned i = 0; i < st.nnodes; i++) {
		struct dkm_status_node n;
		int bit;

		memcpy(&n, (char *)m.payload + sizeof(st) + i * sizeof(n), sizeof(n));
		if (strstr(n.cpulist, "...")) {
			ncpus = -1; /* truncated: ask libnuma instead */
			break;
		}
		{
			struct dkm_bitmap b = DKM_BITMAP_INIT;

			if (dkm_bitmap_parse_list(&b, n.cpulist) == 0)
				dkm_bitmap_foreach(bit, &b)
					if (bit >= ncpus)
						ncpus = bit + 1;
			dkm_bitmap_free(&b);
		}
	}
	if (ncpus < 0)
		ncpus = (int)sysconf(_SC_NPROCESSORS_CONF);
	table = calloc((size_t)ncpus, sizeof(*table));
	if (!table) {
		dkm_msg_clear(&m);
		return -ENOMEM;
	}
	for (int c = 0; c < ncpus; c++)
		table[c] = -1;
	for (unsigned i = 0; i < st.nnodes; i++) {
		struct dkm_status_node n;
		struct dkm_bitmap b = DKM_BITMAP_INIT;
		int bit;

		memcpy(&n, (char *)m.payload + sizeof(st) + i * sizeof(n), sizeof(n));
		if (!strstr(n.cpulist, "...") && dkm_bitmap_parse_list(&b, n.cpulist) == 0)
			dkm_bitmap_foreach(bit, &b)
				if (bit < ncpus)
					table[bit] = n.id;
		dkm_bitmap_free(&b);
	}
	for (int c = 0; c < ncpus; c++)
		if (table[c] < 0 && numa_available() >= 0)
			table[c] = numa_node_of_cpu(c);
	dkm_msg_clear(&m);
	/* the old table (if any) stays allocated and reachable: a reader may still hold it */
	{
		static int *retired[16];
		static unsigned nretired;
		int *old = atomic_load_explicit(&S.cpu2node, memory_order_relaxed);

		if (old && nretired < sizeof(retired) / sizeof(retired[0]))
			retired[nretired++] = old;
	}
	atomic_store_explicit(&S.ncpus, 0, memory_order_release);
	atomic_store_explicit(&S.cpu2node, table, memory_order_release);
	atomic_store_explicit(&S.ncpus, ncpus, memory_order_release);
	return 0;
}

/* Connect if not connected. Under lock. */
static int ensure_connected(void)
{
	char err[512];
	int r;

	read_env();
	if (!S.atfork_set) {
		if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0)
			return -ENOMEM;
		S.atfork_set = true;
	}
	if (S.conn)
		return 0;
	r = dkm_conn_open(NULL, program_invocation_short_name, &S.conn, err, sizeof(err));
	if (r < 0) {
		S.conn = NULL;
		S.last_err = r;
		dkm_log_failure("%s", err);
		return r;
	}
	S.generation++;
	/* CPUs do not change nodes: a map from an earlier session (or the parent) stands */
	r = atomic_load_explicit(&S.cpu2node, memory_order_acquire) ? 0 : load_cpu_map();
	if (r < 0) {
		dkm_log_failure("asking the daemon for its node map: %s", S.conn->err);
		dkm_conn_close(S.conn);
		S.conn = NULL;
		return r;
	}
	return 0;
}

/* After a transport error the connection is dead: forget it (regions stay mapped). */
static void drop_if_broken(void)
{
	if (S.conn && S.conn->fd < 0) {
		dkm_conn_close(S.conn);
		S.conn = NULL;
	}
}

int dkm_session_cpu_node(void)
{
	int cpu = sched_getcpu();
	int n = atomic_load_explicit(&S.ncpus, memory_order_acquire);
	int *table = atomic_load_explicit(&S.cpu2node, memory_order_acquire);

	if (cpu < 0)
		return -errno;
	if (!table || cpu >= n) {
		int r;

		pthread_mutex_lock(&S.lock);
		r = ensure_connected();
		if (r == 0 && cpu >= atomic_load(&S.ncpus))
			r = load_cpu_map();
		pthread_mutex_unlock(&S.lock);
		if (r < 0)
			return r;
		n = atomic_load_explicit(&S.ncpus, memory_order_acquire);
		table = atomic_load_explicit(&S.cpu2node, memory_order_acquire);
		if (!table || cpu >= n)
			return -ENODEV;
	}
	return table[cpu] >= 0 ? table[cpu] : 0;
}

/* ======================================================================
 * Regions
 * ====================================================================== */

static int errno_from_daemon(int r)
{
	switch (r) {
	case -ENOSPC:
	case -EFBIG:
		return -ENOMEM;
	case -ECONNRESET:
	case -EPIPE:
	case -ETIMEDOUT:
		return -ENOTCONN;
	default:
		return r;
	}
}

static int region_get_node(unsigned kind, int node, size_t size, size_t align, int prefault,
			   struct dkm_session_region **ret)
{
	long page = sysconf(_SC_PAGESIZE);
	struct dkm_alloc_region req = { 0 };
	struct dkm_region reg;
	struct region *rg;
	unsigned gen;
	void *addr;
	int fd = -1, r;

	if (align < (size_t)page)
		align = (size_t)page;
	size = (size + (size_t)page - 1) & ~((size_t)page - 1);
	rg = calloc(1, sizeof(*rg));
	if (!rg)
		return -ENOMEM;
	pthread_mutex_lock(&S.lock);
	r = ensure_connected();
	if (r == 0 && S.override_err)
		r = S.override_err;
	if (r == 0) {
		req.kind = kind;
		req.size = size;
		req.cpu_node = node;
		if (prefault < 0)
			prefault = S.prefault;
		req.flags = prefault == 1 ? DKM_ALLOC_PREFAULT
			    : prefault == 0 ? DKM_ALLOC_NO_PREFAULT
					    : 0;
		req.kmem_nodes = S.override;
		r = dkm_conn_alloc(S.conn, &req, &reg, &fd);
		if (r < 0) {
			dkm_log_failure("%s of %zu bytes for CPU node %d: %s",
					dkm_kind_name(kind) ? dkm_kind_name(kind) : "?", size, node,
					S.conn->err);
			drop_if_broken();
		}
	}
	gen = S.generation;
	pthread_mutex_unlock(&S.lock);
	if (r < 0) {
		free(rg);
		return errno_from_daemon(r);
	}

	/* Reserve room to align, map the memfd over the aligned part, trim the rest. */
	addr = mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (addr != MAP_FAILED) {
		uintptr_t base = (uintptr_t)addr, a = (base + align - 1) & ~(uintptr_t)(align - 1);
		void *p = mmap((void *)a, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);

		if (p == MAP_FAILED) {
			r = -errno;
			munmap(addr, size + align);
		} else {
			if (a > base)
				munmap(addr, a - base);
			if (base + size + align > a + size)
				munmap((void *)(a + size), base + size + align - (a + size));
			addr = p;
		}
	} else {
		r = -errno;
	}
	/*
	 * The daemon left the population to us, so that the pages are charged
	 * to this process's memory cgroup: populate in the calling thread, or
	 * give the region back (never a half-populated success).
	 */
	if (r == 0 && (reg.flags & DKM_REGION_CLIENT_POPULATE)) {
		r = dkm_region_populate(addr, size, fd);
		if (r < 0) {
			dkm_log_failure("populating %s of %zu bytes for CPU node %d: %s",
					dkm_kind_name(kind) ? dkm_kind_name(kind) : "?", size, node,
					strerror(-r));
			munmap(addr, size);
		}
	}
	rg->r.addr = addr;
	rg->r.size = size;
	rg->r.fd = fd;
	rg->r.id = reg.id;
	rg->r.pid = getpid();
	rg->generation = gen;
	pthread_mutex_lock(&S.lock);
	if (r < 0) {
		if (S.conn && S.generation == gen)
			(void)dkm_conn_release(S.conn, reg.id);
		pthread_mutex_unlock(&S.lock);
		close(fd);
		free(rg);
		return r;
	}
	rg->next = S.regions;
	if (S.regions)
		S.regions->prev = rg;
	S.regions = rg;
	pthread_mutex_unlock(&S.lock);
	*ret = &rg->r;
	return 0;
}

int dkm_session_region_get(unsigned kind, size_t size, size_t align, int prefault,
			   struct dkm_session_region **ret)
{
	int node = dkm_session_cpu_node();

	if (node < 0)
		return node;
	return region_get_node(kind, node, size, align, prefault, ret);
}

void dkm_session_region_put(struct dkm_session_region *r)
{
	struct region *rg = (struct region *)r; /* r is its first member */

	if (!r)
		return;
	if (rg->r.pid != getpid()) {
		/* inherited from the parent: not ours to release, not on our list */
		munmap(rg->r.addr, rg->r.size);
		free(rg);
		return;
	}
	pthread_mutex_lock(&S.lock);
	if (rg->prev)
		rg->prev->next = rg->next;
	else
		S.regions = rg->next;
	if (rg->next)
		rg->next->prev = rg->prev;
	munmap(rg->r.addr, rg->r.size);
	if (S.conn && S.generation == rg->generation) {
		if (dkm_conn_release(S.conn, rg->r.id) < 0) {
			dkm_log_failure("releasing region %llu: %s", rg->r.id, S.conn->err);
			drop_if_broken();
		}
	}
	pthread_mutex_unlock(&S.lock);
	if (rg->r.fd >= 0)
		close(rg->r.fd);
	free(rg);
}

/* ======================================================================
 * Pools
 * ====================================================================== */

static void *source_map(void *ctx, size_t size, void **token)
{
	struct kpool *k = ctx;
	struct dkm_session_region *r;
	int err = region_get_node(k->kind, k->node, size, DKM_SEGMENT_SIZE, -1, &r);

	if (err < 0) {
		errno = -err;
		return NULL;
	}
	*token = r;
	return r->addr;
}

static void source_unmap(void *ctx, void *addr, size_t size, void *token)
{
	struct dkm_session_region *r = token;

	(void)ctx;
	(void)addr;
	(void)size;
	dkm_session_region_put(r);
}

struct dkm_pool *dkm_session_pool(unsigned kind)
{
	struct dkm_pool *p;
	int node;

	register_thread();
	node = dkm_session_cpu_node();
	if (node < 0) {
		errno = -node;
		return NULL;
	}
	if (node >= DKM_MAX_CPU_NODES) {
		errno = ENODEV;
		return NULL;
	}
	p = atomic_load_explicit(&S.pools[kind][node], memory_order_acquire);
	if (p)
		return p;
	pthread_mutex_lock(&S.lock);
	p = atomic_load_explicit(&S.pools[kind][node], memory_order_acquire);
	if (!p) {
		struct dkm_heap_source src = { .ctx = &S.kp[kind][node], .map = source_map,
					       .unmap = source_unmap };
		int r;

		S.kp[kind][node].kind = kind;
		S.kp[kind][node].node = node;
		r = dkm_pool_new(&src, kind, S.retain, &p);
		if (r < 0) {
			pthread_mutex_unlock(&S.lock);
			errno = -r;
			return NULL;
		}
		atomic_store_explicit(&S.pools[kind][node], p, memory_order_release);
	}
	pthread_mutex_unlock(&S.lock);
	return p;
}

int dkm_session_check(unsigned kind)
{
	struct dkm_bitmap nodes = DKM_BITMAP_INIT;
	cpu_set_t set;
	int node, r = 0;

	node = dkm_session_cpu_node();
	if (node < 0)
		return -node;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return errno;
	{
		int n = atomic_load_explicit(&S.ncpus, memory_order_acquire);
		int *table = atomic_load_explicit(&S.cpu2node, memory_order_acquire);

		for (int c = 0; c < n && c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set) && table[c] >= 0)
				(void)dkm_bitmap_set(&nodes, (unsigned)table[c]);
	}
	/* As memkind did at start: every CPU node the process may run on must work. */
	dkm_bitmap_foreach(node, &nodes) {
		struct dkm_session_region *reg;

		r = region_get_node(kind, node, 1, 0, 0, &reg);
		if (r < 0)
			break;
		dkm_session_region_put(reg);
	}
	dkm_bitmap_free(&nodes);
	return r < 0 ? -r : 0;
}
