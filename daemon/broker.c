/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/format.h"
#include "wire.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

#define MAX_NODES DKM_PROTO_MAX_NODES

/* Population runs in chunks so that a cancelled job or a stopping daemon does not wait long. */
#define POPULATE_CHUNK (64ull << 20)
/* Regions one client may have being populated at once. */
#define MAX_PENDING_PER_CLIENT 8

/*
 * A population job for the worker thread. The worker reads fd and size and
 * writes err; cancel is set by the loop thread (under lock) when the owner
 * went away. region is touched only by the loop thread.
 */
struct dkm_job {
	struct dkm_grant *region;
	int fd;
	uint64_t size;
	int err;                     /* set by the worker: 0 or errno */
	bool cancel;                 /* under lock: stop early, the owner is gone */
	bool started;                /* under lock: the worker took it */
	struct dkm_job *next;
};

struct dkm_broker {
	const struct dkm_config *cfg;
	struct dkm_topology *topo;
	dkm_region_ready_fn ready;
	void *ctx;
	struct dkm_client *clients;
	unsigned nclients;
	unsigned nregions;                 /* live regions of all clients */
	unsigned max_regions;              /* bound from the descriptor limit */
	uint32_t next_client_id;
	uint64_t next_region_id;
	uint64_t node_granted[MAX_NODES];  /* bytes of live ranges per node */
	uint64_t node_owed[MAX_NODES];     /* of those, bytes not populated yet */
	uint64_t node_released[MAX_NODES]; /* bytes of ranges freed since start, per node */
	uint64_t high_wmark[MAX_NODES];    /* bytes, from /proc/zoneinfo */
	long page_size;

	/* worker */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dkm_job *todo, *todo_tail;  /* under lock: FIFO */
	struct dkm_job *done;              /* under lock */
	bool stop;                         /* under lock */
	int efd;                           /* eventfd: jobs done */
};

/* ======================================================================
 * Worker
 * ====================================================================== */

static void *worker_main(void *arg)
{
	struct dkm_broker *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		struct dkm_job *j;
		uint64_t one = 1, off = 0;

		while (!b->todo && !b->stop)
			pthread_cond_wait(&b->cond, &b->lock);
		if (b->stop)
			break;
		j = b->todo;
		b->todo = j->next;
		if (!b->todo)
			b->todo_tail = NULL;
		j->started = true;
		j->err = 0;
		/* Allocates every page under the memfd's shared policy, as a fault would. */
		while (off < j->size && !j->cancel && !b->stop) {
			uint64_t len = j->size - off < POPULATE_CHUNK ? j->size - off : POPULATE_CHUNK;
			int r;

			pthread_mutex_unlock(&b->lock);
			r = fallocate(j->fd, 0, (off_t)off, (off_t)len);
			pthread_mutex_lock(&b->lock);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				j->err = errno;
				break;
			}
			off += len;
		}
		if (!j->err && off < j->size)
			j->err = ECANCELED;
		j->next = b->done;
		b->done = j;
		if (write(b->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow in practice; the loop drains it */
		}
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int dkm_broker_worker_fd(const struct dkm_broker *b)
{
	return b->efd;
}

/* ======================================================================
 * Accounting
 * ====================================================================== */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Add (or take away) a region's ranges to the node and owner counters. */
static void account(struct dkm_broker *b, struct dkm_grant *r, bool add)
{
	for (unsigned i = 0; i < r->nranges; i++) {
		int n = r->ranges[i].node;
		uint64_t len = r->ranges[i].length, owed = len - r->resident[i];

		if (n < 0 || n >= MAX_NODES)
			continue;
		if (add) {
			b->node_granted[n] += len;
			b->node_owed[n] += owed;
		} else {
			b->node_granted[n] -= len;
			b->node_owed[n] -= owed;
			b->node_released[n] += len;
		}
	}
	if (add) {
		r->owner->granted += r->size;
		r->owner->nregions++;
		b->nregions++;
	} else {
		r->owner->granted -= r->size;
		r->owner->released += r->size;
		r->owner->nregions--;
		b->nregions--;
	}
}

/* Populated bytes of [off, off + len) of fd (SEEK_DATA/SEEK_HOLE walk). */
static uint64_t populated(int fd, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, sum = 0;
	off_t pos = (off_t)off;

	while ((uint64_t)pos < end) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0 || (uint64_t)data >= end)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > end)
			hole = (off_t)end;
		sum += (uint64_t)(hole - data);
		pos = hole;
	}
	return sum;
}

/* Re-read how much of each range of r is populated, keeping node_owed in step. */
static void update_residency(struct dkm_broker *b, struct dkm_grant *r)
{
	for (unsigned i = 0; i < r->nranges; i++) {
		int n = r->ranges[i].node;
		uint64_t len = r->ranges[i].length, res;

		if (r->nranges == 1) {
			struct stat st;

			res = fstat(r->fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : r->resident[i];
		} else {
			res = populated(r->fd, r->ranges[i].offset, len);
		}
		if (res > len)
			res = len;
		if (n >= 0 && n < MAX_NODES) {
			b->node_owed[n] += r->resident[i];
			b->node_owed[n] -= res;
		}
		r->resident[i] = res;
	}
}

static uint64_t region_resident(const struct dkm_grant *r)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < r->nranges; i++)
		sum += r->resident[i];
	return sum;
}

/* Take the region away from its client: revoke the memory, return the grant. */
static void region_free(struct dkm_broker *b, struct dkm_grant *r)
{
	account(b, r, false);
	/*
	 * The client may still hold the memfd and its mappings: truncating
	 * frees the pages now (its mappings fault with SIGBUS), so memory given
	 * back cannot be kept past the quota or the node's admission.
	 */
	if (ftruncate(r->fd, 0) < 0) {
		/* cannot fail on a memfd without a SHRINK seal; the pages go at close */
	}
	close(r->fd);
	free(r);
}

/* Unlink r from its owner's list. */
static void region_unlink(struct dkm_grant *r)
{
	struct dkm_grant **pp;

	for (pp = &r->owner->regions; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

static void uid_usage(const struct dkm_broker *b, uid_t uid, uint64_t *bytes, unsigned *regions,
		      unsigned *clients)
{
	*bytes = 0;
	*regions = 0;
	*clients = 0;
	for (const struct dkm_client *c = b->clients; c; c = c->next)
		if (c->uid == uid) {
			*bytes += c->granted;
			*regions += c->nregions;
			(*clients)++;
		}
}

/* What node n can still take: free - high watermark - reserve - owed. */
static uint64_t node_available(struct dkm_broker *b, int n, uint64_t *ret_free, uint64_t *ret_owed)
{
	uint64_t freeb = 0, owed, floor;

	if (dkm_read_node_meminfo(b->topo->root, n, NULL, &freeb) < 0)
		freeb = 0;
	owed = n >= 0 && n < MAX_NODES ? b->node_owed[n] : 0;
	floor = sat_add(sat_add(b->high_wmark[n], b->cfg->reserve), owed);
	if (ret_free)
		*ret_free = freeb;
	if (ret_owed)
		*ret_owed = owed;
	return freeb > floor ? freeb - floor : 0;
}

void dkm_broker_refresh_residency(struct dkm_broker *b)
{
	for (struct dkm_client *c = b->clients; c; c = c->next)
		for (struct dkm_grant *r = c->regions; r; r = r->next)
			if (r->ready)
				update_residency(b, r);
}

void dkm_broker_set_max_regions(struct dkm_broker *b, unsigned max)
{
	b->max_regions = max;
}

/* ======================================================================
 * Lifecycle
 * ====================================================================== */

static void read_watermarks(struct dkm_broker *b)
{
	static uint64_t pages[MAX_NODES];
	int nslots = b->topo->nslots < MAX_NODES ? b->topo->nslots : MAX_NODES;

	if (dkm_read_high_watermarks("/proc/zoneinfo", pages, nslots) < 0)
		memset(pages, 0, sizeof(pages));
	for (int i = 0; i < nslots; i++)
		b->high_wmark[i] = pages[i] * (uint64_t)b->page_size;
}

int dkm_broker_new(const struct dkm_config *cfg, struct dkm_topology *t, dkm_region_ready_fn ready,
		   void *ctx, struct dkm_broker **ret)
{
	struct dkm_broker *b;
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = cfg;
	b->topo = t;
	b->ready = ready;
	b->ctx = ctx;
	b->next_client_id = 1;
	b->next_region_id = 1;
	b->max_regions = 1024;
	b->page_size = sysconf(_SC_PAGESIZE);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0) {
		r = -errno;
		goto fail;
	}
	r = -pthread_create(&b->thread, NULL, worker_main, b);
	if (r < 0)
		goto fail;
	b->thread_started = true;
	read_watermarks(b);
	*ret = b;
	return 0;
fail:
	b->topo = NULL; /* the caller keeps it on failure */
	dkm_broker_free(b);
	return r;
}

struct dkm_broker *dkm_broker_free(struct dkm_broker *b)
{
	if (!b)
		return NULL;
	if (b->thread_started) {
		pthread_mutex_lock(&b->lock);
		b->stop = true;
		pthread_cond_signal(&b->cond);
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->thread, NULL);
	}
	/* Jobs not run and jobs finished: their regions are on client lists and freed below. */
	while (b->todo) {
		struct dkm_job *j = b->todo;

		b->todo = j->next;
		free(j);
	}
	while (b->done) {
		struct dkm_job *j = b->done;

		b->done = j->next;
		free(j);
	}
	while (b->clients) {
		struct dkm_client *c = b->clients;

		b->clients = c->next;
		while (c->regions) {
			struct dkm_grant *r = c->regions;

			c->regions = r->next;
			region_free(b, r);
		}
		free(c);
	}
	if (b->efd >= 0)
		close(b->efd);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	dkm_topology_free(b->topo);
	free(b);
	return NULL;
}

void dkm_broker_set_topology(struct dkm_broker *b, struct dkm_topology *t)
{
	dkm_topology_free(b->topo);
	b->topo = t;
	read_watermarks(b);
}

void dkm_broker_set_config(struct dkm_broker *b, const struct dkm_config *cfg)
{
	b->cfg = cfg;
}

const struct dkm_topology *dkm_broker_topology(const struct dkm_broker *b)
{
	return b->topo;
}

/* ======================================================================
 * Clients
 * ====================================================================== */

int dkm_broker_client_new(struct dkm_broker *b, pid_t pid, uid_t uid, gid_t gid,
			  struct dkm_client **ret, char *msg, size_t msgsize)
{
	struct dkm_client *c;
	unsigned same_uid = 0;

	if (b->nclients >= b->cfg->max_clients) {
		snprintf(msg, msgsize, "too many clients (max_clients=%u)", b->cfg->max_clients);
		return -EUSERS;
	}
	/* gone clients whose jobs still run count too: they still hold the worker */
	for (c = b->clients; c; c = c->next)
		if (c->uid == uid)
			same_uid++;
	if (same_uid >= b->cfg->max_clients_per_uid) {
		snprintf(msg, msgsize, "uid %u has %u connections (max_clients_per_uid=%u)",
			 (unsigned)uid, same_uid, b->cfg->max_clients_per_uid);
		return -EUSERS;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(msg, msgsize, "out of memory");
		return -ENOMEM;
	}
	c->id = b->next_client_id++;
	if (b->next_client_id == 0)
		b->next_client_id = 1;
	c->pid = pid;
	c->uid = uid;
	c->gid = gid;
	c->next = b->clients;
	b->clients = c;
	b->nclients++;
	*ret = c;
	return 0;
}

static void client_unlink_free(struct dkm_broker *b, struct dkm_client *c)
{
	struct dkm_client **pp;

	for (pp = &b->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	b->nclients--;
	free(c);
}

void dkm_broker_client_gone(struct dkm_broker *b, struct dkm_client *c)
{
	struct dkm_grant **pp = &c->regions;

	c->gone = true;
	c->conn = NULL;
	/* Jobs not started are dropped now; a running one stops at its next chunk. */
	pthread_mutex_lock(&b->lock);
	for (struct dkm_job **jp = &b->todo; *jp;) {
		struct dkm_job *j = *jp;

		if (j->region->owner != c) {
			jp = &j->next;
			continue;
		}
		*jp = j->next;
		j->region->job = NULL;
		j->region->ready = true; /* nothing runs on it any more */
		c->pending--;
		free(j);
	}
	b->todo_tail = NULL;
	for (struct dkm_job *j = b->todo; j; j = j->next)
		b->todo_tail = j;
	for (struct dkm_grant *r = c->regions; r; r = r->next)
		if (r->job)
			r->job->cancel = true;
	pthread_mutex_unlock(&b->lock);
	/* Ready regions go now; regions being populated go when their job returns. */
	while (*pp) {
		struct dkm_grant *r = *pp;

		if (!r->ready) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		region_free(b, r);
	}
	if (c->pending == 0)
		client_unlink_free(b, c);
}

bool dkm_broker_is_admin(const struct dkm_broker *b, const struct dkm_client *c)
{
	return c->uid == 0 || (b->cfg->admin_group != (gid_t)-1 && c->gid == b->cfg->admin_group);
}

/* ======================================================================
 * Regions
 * ====================================================================== */

static const char *kind_name(uint32_t kind)
{
	const char *s = dkm_kind_name(kind);

	return s ? s : "?";
}

/* Check that threads of pid may run on cpu_node's CPUs. */
static int check_cpu_node(struct dkm_broker *b, struct dkm_client *c, int cpu_node, char *msg,
			  size_t msgsize)
{
	const struct dkm_node *node = dkm_topology_node(b->topo, cpu_node);
	cpu_set_t *set;
	size_t setsize;
	int ncpus = 8192, bit;
	bool ok = false;

	if (!node || dkm_bitmap_empty(&node->cpus)) {
		snprintf(msg, msgsize, "CPU node %d is not an online node with CPUs", cpu_node);
		return -EINVAL;
	}
	set = CPU_ALLOC((size_t)ncpus);
	if (!set)
		return -ENOMEM;
	setsize = CPU_ALLOC_SIZE((size_t)ncpus);
	if (sched_getaffinity(c->pid, setsize, set) < 0) {
		/* the process is gone or hidden: its request cannot be checked */
		snprintf(msg, msgsize, "cannot read the CPU affinity of pid %d: %s", (int)c->pid,
			 strerror(errno));
		CPU_FREE(set);
		return -ESRCH;
	}
	dkm_bitmap_foreach(bit, &node->cpus)
		if (bit < ncpus && CPU_ISSET_S((size_t)bit, setsize, set)) {
			ok = true;
			break;
		}
	CPU_FREE(set);
	if (!ok) {
		char cpus[128];

		dkm_bitmap_format_list(&node->cpus, cpus, sizeof(cpus));
		snprintf(msg, msgsize, "pid %d may not run on CPU node %d (CPUs %s)", (int)c->pid,
			 cpu_node, cpus);
		return -EINVAL;
	}
	return 0;
}

/* The client's DAXKMEM_NODES: every node must be online. */
static int check_nodeset(struct dkm_broker *b, const struct dkm_nodeset *set,
			 struct dkm_bitmap *out, char *msg, size_t msgsize)
{
	struct dkm_bitmap bad = DKM_BITMAP_INIT;
	int r = 0;

	for (unsigned n = 0; n < DKM_PROTO_MAX_NODES; n++) {
		if (!dkm_nodeset_test(set, n))
			continue;
		if (dkm_topology_node(b->topo, (int)n) &&
		    dkm_topology_node(b->topo, (int)n)->mem_total != 0)
			r = dkm_bitmap_set(out, n);
		else
			r = dkm_bitmap_set(&bad, n);
		if (r < 0)
			goto out;
	}
	if (!dkm_bitmap_empty(&bad)) {
		char list[128], online[128];

		dkm_bitmap_format_list(&bad, list, sizeof(list));
		dkm_bitmap_format_list(&b->topo->online, online, sizeof(online));
		snprintf(msg, msgsize, "DAXKMEM_NODES names node(s) %s, not online nodes with memory "
			 "(online: %s)", list, online);
		r = -EINVAL;
	}
out:
	dkm_bitmap_free(&bad);
	return r;
}

/*
 * Spread size over nodes in order, each taking what it can: the plan of
 * KMEM_ALL (and of KMEM when several nodes tie). -ENOSPC with the figures.
 */
static int plan_spread(struct dkm_broker *b, const int *nodes, unsigned n, uint64_t size,
		       uint32_t policy, struct dkm_grant *r, char *msg, size_t msgsize)
{
	uint64_t left = size, off = 0;
	size_t len = 0;
	char fig[512] = "";

	for (unsigned i = 0; i < n && left; i++) {
		uint64_t freeb, owed, avail = node_available(b, nodes[i], &freeb, &owed);
		char a[32];

		avail -= avail % (uint64_t)b->page_size;
		if (len < sizeof(fig))
			len += (size_t)snprintf(fig + len, sizeof(fig) - len, "%snode %d: %s", i ? ", " : "",
					nodes[i], dkm_format_bytes(avail, a, sizeof(a)));
		if (avail == 0)
			continue;
		if (r->nranges == DKM_PROTO_MAX_RANGES)
			break;
		if (avail > left)
			avail = left;
		r->ranges[r->nranges].offset = off;
		r->ranges[r->nranges].length = avail;
		r->ranges[r->nranges].node = nodes[i];
		r->ranges[r->nranges].policy = policy;
		r->nranges++;
		off += avail;
		left -= avail;
	}
	if (left) {
		char s[32];

		snprintf(msg, msgsize, "%s: no room for %s on node%s %s (available above "
			 "watermarks, reserve and grants not yet resident: %s)",
			 kind_name(r->kind), dkm_format_bytes(size, s, sizeof(s)), n > 1 ? "s" : "",
			 dkm_format_ints(nodes, n, (char[128]){ 0 }, 128), fig);
		return -ENOSPC;
	}
	return 0;
}

static int plan_single(struct dkm_broker *b, int node, uint64_t size, struct dkm_grant *r,
		       char *msg, size_t msgsize)
{
	uint64_t freeb, owed, avail = node_available(b, node, &freeb, &owed);

	if (avail < size) {
		char s[32], f[32], w[32], rs[32], o[32];

		snprintf(msg, msgsize, "%s: node %d cannot take %s: %s free, less %s high watermark, "
			 "%s reserve and %s granted but not yet resident",
			 kind_name(r->kind), node, dkm_format_bytes(size, s, sizeof(s)),
			 dkm_format_bytes(freeb, f, sizeof(f)),
			 dkm_format_bytes(b->high_wmark[node], w, sizeof(w)),
			 dkm_format_bytes(b->cfg->reserve, rs, sizeof(rs)),
			 dkm_format_bytes(owed, o, sizeof(o)));
		return -ENOSPC;
	}
	r->nranges = 1;
	r->ranges[0].offset = 0;
	r->ranges[0].length = size;
	r->ranges[0].node = node;
	r->ranges[0].policy = DKM_POLICY_BIND;
	return 0;
}

static int plan(struct dkm_broker *b, struct dkm_client *c, const struct dkm_alloc_region *req,
		struct dkm_grant *r, char *msg, size_t msgsize)
{
	struct dkm_bitmap set = DKM_BITMAP_INIT;
	struct dkm_placement row;
	int ret;

	if (!dkm_nodeset_empty(&req->kmem_nodes)) {
		ret = check_nodeset(b, &req->kmem_nodes, &set, msg, msgsize);
		if (ret < 0) {
			dkm_bitmap_free(&set);
			return ret;
		}
	}
	ret = dkm_placement_row(b->topo, dkm_bitmap_empty(&set) ? NULL : &set, req->cpu_node, &row);
	dkm_bitmap_free(&set);
	if (ret < 0)
		return ret;
	if (row.status != DKM_PLACE_OK) {
		snprintf(msg, msgsize, "%s: %s", kind_name(req->kind), row.message);
		ret = row.status == DKM_PLACE_NO_KMEM ? -ENODEV : -EINVAL;
		goto out;
	}
	switch (req->kind) {
	case DKM_KIND_KMEM:
		if (row.nkmem == 1)
			ret = plan_single(b, row.kmem[0], req->size, r, msg, msgsize);
		else
			ret = plan_spread(b, row.kmem, row.nkmem, req->size, DKM_POLICY_BIND, r, msg,
					  msgsize);
		break;
	case DKM_KIND_KMEM_ALL:
		ret = plan_spread(b, row.all, row.nall, req->size, DKM_POLICY_BIND, r, msg, msgsize);
		break;
	case DKM_KIND_KMEM_PREFERRED:
		if (row.pref_status != DKM_PLACE_OK) {
			snprintf(msg, msgsize, "%s", row.message);
			ret = -EINVAL;
			break;
		}
		/*
		 * PREFERRED falls back by itself, but the fallback is planned here
		 * too: what the preferred node cannot hold is accounted (and
		 * preferred) on the next nodes of the kernel's order, so that no
		 * node is promised more than it has.
		 */
		ret = plan_spread(b, row.pref, row.npref, req->size, DKM_POLICY_PREFERRED, r, msg,
				  msgsize);
		break;
	default:
		snprintf(msg, msgsize, "unknown kind %u", req->kind);
		ret = -EINVAL;
	}
out:
	dkm_placement_row_clear(&row);
	(void)c;
	return ret;
}

/* Create the memfd, size it, bind its ranges, seal it. */
static int make_memfd(struct dkm_broker *b, struct dkm_client *c, struct dkm_grant *r, char *msg,
		      size_t msgsize)
{
	char name[96];
	void *addr;
	int fd, err;

	snprintf(name, sizeof(name), "daxkmem:%s:%u:%s", c->name[0] ? c->name : "client", c->id,
		 kind_name(r->kind));
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		err = errno;
		snprintf(msg, msgsize, "memfd_create: %s", strerror(err));
		return -err;
	}
	if (ftruncate(fd, (off_t)r->size) < 0) {
		err = errno;
		snprintf(msg, msgsize, "sizing the region: %s", strerror(err));
		goto fail;
	}
	/* The policy set on a shared mapping of the memfd belongs to the file. */
	addr = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		err = errno;
		snprintf(msg, msgsize, "mapping the region: %s", strerror(err));
		goto fail;
	}
	for (unsigned i = 0; i < r->nranges; i++) {
		unsigned long mask[MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };
		const struct dkm_range *rg = &r->ranges[i];
		int mode = rg->policy == DKM_POLICY_BIND ? MPOL_BIND : MPOL_PREFERRED;

		mask[rg->node / (8 * sizeof(unsigned long))] |= 1ul << (rg->node % (8 * sizeof(unsigned long)));
		if (mbind((char *)addr + rg->offset, rg->length, mode, mask, MAX_NODES + 1, 0) < 0) {
			err = errno;
			snprintf(msg, msgsize, "binding %s at offset %" PRIu64 " to node %d: %s",
				 dkm_format_bytes(rg->length, (char[32]){ 0 }, 32), rg->offset,
				 rg->node, strerror(err));
			munmap(addr, r->size);
			goto fail;
		}
	}
	munmap(addr, r->size);
	/*
	 * Sealed against growing (no peer can make the daemon's grant larger)
	 * and against further seals; not against shrinking, so that the daemon
	 * can revoke the pages when the region is released (region_free).
	 */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = errno;
		snprintf(msg, msgsize, "sealing the region: %s", strerror(err));
		goto fail;
	}
	r->fd = fd;
	return 0;
fail:
	close(fd);
	return -err;
}

int dkm_broker_alloc(struct dkm_broker *b, struct dkm_client *c, const struct dkm_alloc_region *req,
		     uint32_t seq, struct dkm_grant **ret, char *msg, size_t msgsize)
{
	uint64_t quota, used;
	unsigned uid_regions, uid_clients;
	struct dkm_grant *r;
	int err;

	if (req->size % (uint64_t)b->page_size) {
		snprintf(msg, msgsize, "size %" PRIu64 " is not a multiple of the page size %ld",
			 req->size, b->page_size);
		return -EINVAL;
	}
	if (req->size > b->cfg->max_region_size) {
		char s[32], m[32];

		snprintf(msg, msgsize, "%s is larger than max_region_size %s",
			 dkm_format_bytes(req->size, s, sizeof(s)),
			 dkm_format_bytes(b->cfg->max_region_size, m, sizeof(m)));
		return -EFBIG;
	}
	if (c->nregions >= b->cfg->max_regions_per_client) {
		snprintf(msg, msgsize, "client holds %u regions (max_regions_per_client=%u)",
			 c->nregions, b->cfg->max_regions_per_client);
		return -EMFILE;
	}
	uid_usage(b, c->uid, &used, &uid_regions, &uid_clients);
	if (uid_regions >= b->cfg->max_regions_per_uid) {
		snprintf(msg, msgsize, "uid %u holds %u regions (max_regions_per_uid=%u)",
			 (unsigned)c->uid, uid_regions, b->cfg->max_regions_per_uid);
		return -EMFILE;
	}
	if (b->nregions >= b->max_regions) {
		snprintf(msg, msgsize, "the daemon holds %u regions, as many as its descriptor limit "
			 "allows", b->nregions);
		return -ENFILE;
	}
	if (c->pending >= MAX_PENDING_PER_CLIENT) {
		snprintf(msg, msgsize, "%u regions of this client are being populated already",
			 c->pending);
		return -EBUSY;
	}
	quota = dkm_config_quota(b->cfg, c->uid);
	if (quota && (used + req->size > quota || used + req->size < used)) {
		char q[32], u[32], s[32];

		snprintf(msg, msgsize, "uid %u is over its quota of %s: %s granted, %s asked",
			 (unsigned)c->uid, dkm_format_bytes(quota, q, sizeof(q)),
			 dkm_format_bytes(used, u, sizeof(u)),
			 dkm_format_bytes(req->size, s, sizeof(s)));
		return -EDQUOT;
	}
	err = check_cpu_node(b, c, req->cpu_node, msg, msgsize);
	if (err < 0)
		return err;

	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(msg, msgsize, "out of memory");
		return -ENOMEM;
	}
	r->owner = c;
	r->size = req->size;
	r->kind = req->kind;
	r->seq = seq;
	r->fd = -1;
	r->prefault = req->flags & DKM_ALLOC_PREFAULT ? true
		      : req->flags & DKM_ALLOC_NO_PREFAULT ? false
							   : b->cfg->prefault;
	err = plan(b, c, req, r, msg, msgsize);
	if (err == 0)
		err = make_memfd(b, c, r, msg, msgsize);
	if (err < 0) {
		free(r);
		return err;
	}
	r->id = b->next_region_id++;
	r->next = c->regions;
	c->regions = r;
	account(b, r, true);

	if (!r->prefault) {
		r->ready = true;
		*ret = r;
		return 0;
	}
	r->job = calloc(1, sizeof(*r->job));
	if (!r->job) {
		region_unlink(r);
		region_free(b, r);
		snprintf(msg, msgsize, "out of memory");
		return -ENOMEM;
	}
	r->job->region = r;
	r->job->fd = r->fd;
	r->job->size = r->size;
	c->pending++;
	pthread_mutex_lock(&b->lock);
	if (b->todo_tail)
		b->todo_tail->next = r->job;
	else
		b->todo = r->job;
	b->todo_tail = r->job;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	*ret = r;
	return 1;
}

void dkm_broker_dispatch_worker(struct dkm_broker *b)
{
	struct dkm_job *done;
	uint64_t cnt;

	if (read(b->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing counted, but the list is checked anyway */
	}
	pthread_mutex_lock(&b->lock);
	done = b->done;
	b->done = NULL;
	pthread_mutex_unlock(&b->lock);
	while (done) {
		struct dkm_job *j = done;
		struct dkm_grant *r = j->region;
		struct dkm_client *c = r->owner;
		uint32_t seq = r->seq;
		int err = j->err;

		done = j->next;
		free(j);
		r->job = NULL;
		r->ready = true;
		c->pending--;
		if (c->gone || err) {
			char msg[256] = "";

			if (err && !c->gone)
				snprintf(msg, sizeof(msg), "populating %s for node %d: %s",
					 dkm_format_bytes(r->size, (char[32]){ 0 }, 32), r->ranges[0].node,
					 strerror(err));
			region_unlink(r);
			region_free(b, r);
			if (c->gone) {
				if (c->pending == 0)
					client_unlink_free(b, c);
				continue;
			}
			/* the callback may end the connection and free c: nothing touches c after */
			if (b->ready)
				b->ready(b->ctx, c, NULL, seq, -err, msg);
			continue;
		}
		update_residency(b, r);
		if (b->ready)
			b->ready(b->ctx, c, r, seq, 0, NULL);
	}
}

int dkm_broker_release(struct dkm_broker *b, struct dkm_client *c, uint64_t id, char *msg,
		       size_t msgsize)
{
	for (struct dkm_grant *r = c->regions; r; r = r->next) {
		if (r->id != id)
			continue;
		if (!r->ready) {
			snprintf(msg, msgsize, "region %" PRIu64 " is still being populated", id);
			return -EBUSY;
		}
		region_unlink(r);
		region_free(b, r);
		return 0;
	}
	snprintf(msg, msgsize, "this client holds no region %" PRIu64, id);
	return -ENOENT;
}

/* ======================================================================
 * Reports
 * ====================================================================== */

void dkm_broker_totals(const struct dkm_broker *b, unsigned *nclients, unsigned *nregions,
		       uint64_t *granted)
{
	unsigned nr = 0;
	uint64_t g = 0;

	for (const struct dkm_client *c = b->clients; c; c = c->next) {
		nr += c->nregions;
		g += c->granted;
	}
	*nclients = b->nclients;
	*nregions = nr;
	*granted = g;
}

uint64_t dkm_broker_node_granted(const struct dkm_broker *b, int node)
{
	return node >= 0 && node < MAX_NODES ? b->node_granted[node] : 0;
}

uint64_t dkm_broker_node_released(const struct dkm_broker *b, int node)
{
	return node >= 0 && node < MAX_NODES ? b->node_released[node] : 0;
}

static enum dkm_node_kind_wire wire_kind(enum dkm_node_kind k)
{
	switch (k) {
	case DKM_NODE_KMEM:
		return DKM_WIRE_NODE_KMEM;
	case DKM_NODE_MEMONLY:
		return DKM_WIRE_NODE_MEMONLY;
	case DKM_NODE_DRAM:
		break;
	}
	return DKM_WIRE_NODE_DRAM;
}

int dkm_broker_status(struct dkm_broker *b, void **ret, size_t *ret_len)
{
	const struct dkm_topology *t = b->topo;
	unsigned n = t->nnodes;
	struct dkm_status st = { 0 };
	struct dkm_status_node *nodes;
	static int slot_of[MAX_NODES];
	uint64_t *res;
	unsigned *ncl;
	bool *seen;
	uint8_t *dist;
	size_t len;
	char *buf;

	if (n > DKM_PROTO_MAX_NODES)
		n = DKM_PROTO_MAX_NODES;
	len = sizeof(st) + n * sizeof(*nodes) + (size_t)n * n;
	buf = calloc(1, len);
	res = calloc(n ? n : 1, sizeof(*res));
	ncl = calloc(n ? n : 1, sizeof(*ncl));
	seen = calloc(n ? n : 1, sizeof(*seen));
	if (!buf || !res || !ncl || !seen) {
		free(buf);
		free(res);
		free(ncl);
		free(seen);
		return -ENOMEM;
	}
	for (int i = 0; i < MAX_NODES; i++)
		slot_of[i] = -1;
	for (unsigned i = 0; i < n; i++)
		if (t->nodes[i].id < MAX_NODES)
			slot_of[t->nodes[i].id] = (int)i;
	nodes = (struct dkm_status_node *)(buf + sizeof(st));
	dist = (uint8_t *)(nodes + n);
	/* Per node: resident = granted - owed; clients holding a range there, each counted once. */
	for (unsigned i = 0; i < n; i++) {
		int id = t->nodes[i].id;

		res[i] = id < MAX_NODES ? b->node_granted[id] - b->node_owed[id] : 0;
	}
	for (const struct dkm_client *c = b->clients; c; c = c->next) {
		for (unsigned i = 0; i < n; i++)
			seen[i] = false;
		for (const struct dkm_grant *r = c->regions; r; r = r->next) {
			st.granted += r->size;
			st.resident += region_resident(r);
			for (unsigned k = 0; k < r->nranges; k++) {
				int slot = r->ranges[k].node < MAX_NODES ? slot_of[r->ranges[k].node] : -1;

				if (slot >= 0 && !seen[slot]) {
					seen[slot] = true;
					ncl[slot]++;
				}
			}
		}
	}
	st.nnodes = n;
	st.nclients = b->nclients;
	st.kmem_from_config = t->kmem_from_config;
	memcpy(buf, &st, sizeof(st));
	for (unsigned i = 0; i < n; i++) {
		const struct dkm_node *node = &t->nodes[i];
		struct dkm_status_node sn = { 0 };
		uint64_t total = node->mem_total, freeb = node->mem_free;
		size_t cl;

		/* free memory moves: read it now */
		(void)dkm_read_node_meminfo(t->root, node->id, &total, &freeb);
		sn.id = node->id;
		sn.kind = wire_kind(node->kind);
		sn.mem_total = total;
		sn.mem_free = freeb;
		sn.granted = dkm_broker_node_granted(b, node->id);
		sn.resident = res[i];
		sn.released = dkm_broker_node_released(b, node->id);
		sn.nclients = ncl[i];
		sn.ncpus = dkm_bitmap_count(&node->cpus);
		cl = dkm_bitmap_format_list(&node->cpus, sn.cpulist, sizeof(sn.cpulist));
		if (cl >= sizeof(sn.cpulist))
			memcpy(sn.cpulist + sizeof(sn.cpulist) - 4, "...", 4);
		memcpy(&nodes[i], &sn, sizeof(sn));
		for (unsigned j = 0; j < n; j++) {
			int d = node->distance[t->nodes[j].id];

			dist[i * n + j] = d > 0 && d < 256 ? (uint8_t)d : 0;
		}
	}
	free(res);
	free(ncl);
	free(seen);
	*ret = buf;
	*ret_len = len;
	return 0;
}

int dkm_broker_clients(struct dkm_broker *b, void **ret, size_t *ret_len)
{
	struct dkm_clients hdr = { 0 };
	size_t len;
	char *buf;
	unsigned i = 0;

	hdr.n = b->nclients;
	len = sizeof(hdr) + (size_t)hdr.n * sizeof(struct dkm_client_entry);
	if (len > DKM_PROTO_MAX_PAYLOAD) {
		hdr.n = (DKM_PROTO_MAX_PAYLOAD - sizeof(hdr)) / sizeof(struct dkm_client_entry);
		len = sizeof(hdr) + (size_t)hdr.n * sizeof(struct dkm_client_entry);
	}
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &hdr, sizeof(hdr));
	for (const struct dkm_client *c = b->clients; c && i < hdr.n; c = c->next, i++) {
		struct dkm_client_entry e = { 0 };

		e.client_id = c->id;
		e.pid = c->pid;
		e.uid = c->uid;
		e.gid = c->gid;
		memcpy(e.name, c->name, sizeof(e.name));
		e.name[sizeof(e.name) - 1] = '\0';
		e.nregions = c->nregions;
		e.granted = c->granted;
		e.released = c->released;
		for (const struct dkm_grant *r = c->regions; r; r = r->next)
			e.resident += region_resident(r);
		memcpy(buf + sizeof(hdr) + i * sizeof(e), &e, sizeof(e));
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}
